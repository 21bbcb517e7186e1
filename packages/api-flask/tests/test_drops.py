"""Track leaves out bots, prefetches and, when asked, Do-Not-Track: answered 204, not queued, counted as dropped."""

from __future__ import annotations

import pytest
from api_testing import AppFactory, dropped, queued_hits
from flask import Flask

from hitcount.api_flask.state import api_state
from hitcount.api_flask.tuning import Tuning

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SLACKBOT = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
FACEBOOK = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
TWITTERBOT = "Twitterbot/1.0"
HEADLESS_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36"
)
BOTS = [GOOGLEBOT, SLACKBOT, FACEBOOK, TWITTERBOT, HEADLESS_CHROME]
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/18.1 Mobile/15E148 Safari/604.1"
)
# HTTP libraries are how server-side integrations send hits: the list tags them, and they are counted.
HTTP_LIBRARIES = ["curl/8.11.0", "python-requests/2.32.3", "Go-http-client/1.1", "node-fetch/1.0"]


def track(app: Flask, **headers: str) -> int:
    """POST one hit of ``page`` with ``headers`` (underscores as dashes); the answer's status."""
    headers = {name.replace("_", "-"): value for name, value in headers.items()}
    return app.test_client().post("/analytics", json={"id": "page"}, headers=headers).status_code


@pytest.mark.parametrize("agent", BOTS)
def test_a_bots_hit_is_answered_204_and_not_queued(app: Flask, agent: str) -> None:
    before = dropped("bot")
    assert track(app, User_Agent=agent) == 204
    assert queued_hits(app) == []
    assert dropped("bot") == before + 1


@pytest.mark.parametrize("agent", [FIREFOX, IPHONE, *HTTP_LIBRARIES, ""])
def test_a_browsers_or_an_http_librarys_hit_is_queued(app: Flask, agent: str) -> None:
    assert track(app, User_Agent=agent) == 204
    assert [hit.id for hit in queued_hits(app)] == ["page"]


def test_a_bot_is_told_by_its_agent_as_spelled_not_in_another_case(app: Flask) -> None:
    assert track(app, User_Agent=GOOGLEBOT.upper()) == 204
    assert [hit.id for hit in queued_hits(app)] == ["page"]


def test_each_hit_of_a_bots_batch_counts_as_dropped(app: Flask) -> None:
    before = dropped("bot")
    response = app.test_client().post(
        "/analytics/batch", json=[{"id": "a"}, {"id": "b"}], headers={"User-Agent": SLACKBOT}
    )
    assert response.status_code == 204
    assert queued_hits(app) == []
    assert dropped("bot") == before + 2


def test_a_bots_malformed_hit_is_refused_as_any_other(app: Flask) -> None:
    before = dropped("bot")
    response = app.test_client().post("/analytics", json={"id": ""}, headers={"User-Agent": GOOGLEBOT})
    assert response.status_code == 400
    assert dropped("bot") == before


@pytest.mark.parametrize(
    ("header", "value"),
    [("Sec-Purpose", "prefetch"), ("Sec-Purpose", "prefetch;prerender"), ("Purpose", "prefetch")],
)
def test_a_prefetchs_hit_is_answered_204_and_not_queued(app: Flask, header: str, value: str) -> None:
    before = dropped("prefetch")
    assert app.test_client().post("/analytics", json={"id": "page"}, headers={header: value}).status_code == 204
    assert queued_hits(app) == []
    assert dropped("prefetch") == before + 1


def test_count_bots_on_counts_a_bots_hit(make_app: AppFactory) -> None:
    app = make_app(HITCOUNT_COUNT_BOTS="on")
    before = dropped("bot")
    assert track(app, User_Agent=GOOGLEBOT) == 204
    assert [hit.id for hit in queued_hits(app)] == ["page"]
    assert dropped("bot") == before


def test_count_bots_on_still_leaves_out_prefetches(make_app: AppFactory) -> None:
    app = make_app(HITCOUNT_COUNT_BOTS="on")
    assert track(app, Sec_Purpose="prefetch") == 204
    assert queued_hits(app) == []


@pytest.mark.parametrize(("header", "value"), [("DNT", "1"), ("Sec-GPC", "1")])
def test_respect_dnt_on_leaves_out_a_hit_asking_not_to_be_tracked(
    make_app: AppFactory, header: str, value: str
) -> None:
    app = make_app(HITCOUNT_RESPECT_DNT="on")
    before = dropped("dnt")
    assert app.test_client().post("/analytics", json={"id": "page"}, headers={header: value}).status_code == 204
    assert queued_hits(app) == []
    assert dropped("dnt") == before + 1


@pytest.mark.parametrize(("header", "value"), [("DNT", "1"), ("Sec-GPC", "1"), ("DNT", "0")])
def test_dnt_and_gpc_are_counted_by_default(app: Flask, header: str, value: str) -> None:
    before = dropped("dnt")
    assert app.test_client().post("/analytics", json={"id": "page"}, headers={header: value}).status_code == 204
    assert [hit.id for hit in queued_hits(app)] == ["page"]
    assert dropped("dnt") == before


def test_respect_dnt_on_counts_a_hit_that_says_dnt_0(make_app: AppFactory) -> None:
    app = make_app(HITCOUNT_RESPECT_DNT="on")
    assert track(app, DNT="0") == 204
    assert [hit.id for hit in queued_hits(app)] == ["page"]


def test_the_dropped_metric_is_exported_with_its_reasons(app: Flask) -> None:
    track(app, User_Agent=GOOGLEBOT)
    track(app, Purpose="prefetch")
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'hitcount_api_hits_dropped_total{reason="bot"}' in metrics
    assert 'hitcount_api_hits_dropped_total{reason="prefetch"}' in metrics


def test_the_verdicts_kept_are_bounded_by_the_agents_tuned(make_app: AppFactory) -> None:
    app = make_app(tuning=Tuning(agent_verdicts=8))
    for number in range(20):
        track(app, User_Agent=f"{FIREFOX} made-up/{number}")
    verdicts = api_state(app).drops.bot_verdict.cache_info()  # type: ignore[attr-defined]
    assert verdicts.currsize == 8
    assert verdicts.misses == 20
