"""What web pages embed: ``/hitcount.js`` (tested in a real browser by tests/browser) and ``/badge.svg``."""

from __future__ import annotations

import dataclasses
import json
from xml.etree import ElementTree

import pytest
from api_testing import AppFactory, DownStore
from flask import Flask
from flask.testing import FlaskClient

from hitcount.api_flask.badge import MAX_LABEL, NOT_COUNTED, text_width
from hitcount.api_flask.state import api_state
from hitcount.core import Counts, Hit, now_ns
from hitcount.core.backends.memory import MemoryStore
from hitcount.core.testing.windows import expected_counts, one_age_per_window
from hitcount.core.windows import NS_PER_SECOND, WINDOWS, Window

SVG = "{http://www.w3.org/2000/svg}"


def write(app: Flask, id: str, ages: list[float], visitor: int | None = None) -> None:
    """Hits of ``id`` ``ages`` seconds ago, each of ``visitor``."""
    now = now_ns()
    hits = [Hit(id, now - int(age * NS_PER_SECOND), visitor=visitor) for age in ages]
    api_state(app).backends.store.get().write(hits)


class HitsOnlyStore(MemoryStore):
    """A store that counts hits but not visitors and keeps no totals, as a backend of a third party may."""

    def counts(self, id: str, now: int) -> Counts:
        return dataclasses.replace(super().counts(id, now), visitors=None, total=None)


def title(svg: bytes) -> str:
    """What a badge says of itself (its tooltip)."""
    return ElementTree.fromstring(svg).findtext(f"{SVG}title") or ""


def texts(svg: bytes) -> list[str]:
    """The texts a badge shows, left to right (parsing it also proves it is well-formed XML)."""
    return [text.text or "" for text in ElementTree.fromstring(svg).iter(f"{SVG}text")]


def test_the_script_is_javascript_of_at_most_4_kib_kept_a_day_and_revalidated_by_etag(client: FlaskClient) -> None:
    response = client.get("/hitcount.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert len(response.data) <= 4096
    assert "max-age=86400" in response.headers["Cache-Control"]
    assert "Set-Cookie" not in response.headers
    again = client.get("/hitcount.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""


def test_the_script_is_served_without_its_comment_lines(client: FlaskClient) -> None:
    source = client.get("/hitcount.js").data.decode()
    assert source.startswith("(() => {")
    assert not [line for line in source.splitlines() if line.lstrip().startswith("//")]


def test_the_script_sends_hits_that_outlive_the_page_with_a_uid_of_its_own_and_reads_counts(
    client: FlaskClient,
) -> None:
    source = client.get("/hitcount.js").data.decode()
    for part in ("keepalive: true", "uid: uid()", "data-hitcount-count", "/analytics/"):
        assert part in source


def test_the_script_knows_the_short_names_of_cores_windows_in_the_order_of_counts(client: FlaskClient) -> None:
    source = client.get("/hitcount.js").data.decode()
    assert f"const windows = {json.dumps([window.name for window in WINDOWS], separators=(',', ':'))};" in source


def test_a_badge_shows_the_label_and_the_count_of_the_longest_window_by_default(
    client: FlaskClient, app: Flask
) -> None:
    write(app, "page", [*one_age_per_window(), 1.0])
    response = client.get("/badge.svg?id=page")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert texts(response.data) == ["hits", str(len(WINDOWS) + 1)]


@pytest.mark.parametrize("index", range(len(WINDOWS)), ids=[window.reference for window in WINDOWS])
def test_a_badge_shows_the_window_it_names(client: FlaskClient, app: Flask, index: int) -> None:
    ages = one_age_per_window()
    write(app, "page", ages)
    expected = expected_counts(dict.fromkeys(ages, 1))[index]
    query = {"id": "page", "window": WINDOWS[index].reference}
    assert texts(client.get("/badge.svg", query_string=query).data)[1] == str(expected)


def test_a_badge_of_the_visitors_metric_shows_the_windows_distinct_visitors_beside_visitors(
    client: FlaskClient, app: Flask
) -> None:
    write(app, "page", [1.0] * 3, visitor=1)
    write(app, "page", [1.0], visitor=2)
    write(app, "page", [1.0])  # without a visitor key: a hit, not a visitor
    assert texts(client.get("/badge.svg", query_string={"id": "page", "metric": "visitors"}).data) == ["visitors", "2"]
    assert texts(client.get("/badge.svg", query_string={"id": "page", "metric": "count"}).data) == ["hits", "5"]


def test_a_visitors_badge_shows_the_window_it_names_under_the_label_it_is_given(
    client: FlaskClient, app: Flask
) -> None:
    write(app, "page", [2 * 3600.0], visitor=1)
    write(app, "page", [1.0], visitor=2)
    query = {"id": "page", "metric": "visitors", "window": "1h", "label": "readers"}
    assert texts(client.get("/badge.svg", query_string=query).data) == ["readers", "1"]


def test_a_visitors_badge_of_a_store_that_does_not_count_them_says_not_counted(make_app: AppFactory) -> None:
    app = make_app(stores={"hits-only": HitsOnlyStore}, HITCOUNT_STORE="hits-only")
    write(app, "page", [1.0], visitor=1)
    client = app.test_client()
    response = client.get("/badge.svg", query_string={"id": "page", "metric": "visitors"})
    assert response.status_code == 200
    assert texts(response.data) == ["visitors", NOT_COUNTED]
    assert "does not count them" in title(response.data)
    assert texts(client.get("/badge.svg?id=page").data) == ["hits", "1"]


def test_a_total_badge_shows_every_hit_ever_counted_and_visitors_have_none(client: FlaskClient, app: Flask) -> None:
    write(app, "page", [1.0, 3600.0, 10 * 86400.0], visitor=1)
    assert texts(client.get("/badge.svg", query_string={"id": "page", "window": "total"}).data) == ["hits", "3"]
    assert texts(client.get("/badge.svg", query_string={"id": "page"}).data) == ["hits", "2"]  # the longest window
    query = {"id": "page", "window": "total", "metric": "visitors"}
    assert texts(client.get("/badge.svg", query_string=query).data) == ["visitors", NOT_COUNTED]


def test_a_total_badge_of_a_store_that_keeps_no_totals_says_not_counted(make_app: AppFactory) -> None:
    app = make_app(stores={"hits-only": HitsOnlyStore}, HITCOUNT_STORE="hits-only")
    write(app, "page", [1.0])
    svg = app.test_client().get("/badge.svg", query_string={"id": "page", "window": "total"}).data
    assert texts(svg) == ["hits", NOT_COUNTED]


def test_a_badge_of_an_unknown_window_names_the_windows_and_total(client: FlaskClient) -> None:
    response = client.get("/badge.svg", query_string={"id": "page", "window": "forever"})
    assert response.status_code == 400
    assert texts(response.data) == ["hitcount", "bad window"]
    assert title(response.data).endswith("or 'total'")


def test_a_badge_groups_digits_and_fits_its_text(client: FlaskClient, app: Flask) -> None:
    write(app, "page", [1.0] * 1234)
    svg = client.get("/badge.svg", query_string={"id": "page", "label": "views"}).data
    assert texts(svg) == ["views", "1,234"]
    width = int(ElementTree.fromstring(svg).attrib["width"])
    assert width >= text_width("views") + text_width("1,234")


def test_a_badge_escapes_its_label(client: FlaskClient) -> None:
    label = '<script>alert("x")</script> & co'
    svg = client.get("/badge.svg", query_string={"id": "page", "label": label}).data
    assert b"<script" not in svg
    assert texts(svg)[0] == label
    assert ElementTree.fromstring(svg).attrib["aria-label"] == f"{label}: 0"


@pytest.mark.parametrize(
    ("query", "problem", "message"),
    [
        ({}, "no id", "needs an id"),
        ({"id": ""}, "no id", "needs an id"),
        ({"id": "page", "window": "1 week ago"}, "bad window", "is not one of: 3d, 2d, 1d, 1h, 5m"),
        ({"id": "page", "label": "x" * (MAX_LABEL + 1)}, "bad label", "printable characters"),
        ({"id": "page", "label": "a\x00b"}, "bad label", "printable characters"),
        ({"id": "a\x01"}, "bad id", "control characters"),
        ({"id": "page", "metric": "views"}, "bad metric", "metric 'views' is not one of: count, visitors"),
        ({"id": "page", "metric": ""}, "bad metric", "metric '' is not one of: count, visitors"),
    ],
    ids=[
        "no-id",
        "empty-id",
        "unknown-window",
        "long-label",
        "control-in-label",
        "invalid-id",
        "unknown-metric",
        "empty-metric",
    ],
)
def test_an_invalid_badge_query_is_a_400_badge_saying_what_is_wrong(
    client: FlaskClient, query: dict[str, str], problem: str, message: str
) -> None:
    response = client.get("/badge.svg", query_string=query)
    assert response.status_code == 400
    assert response.mimetype == "image/svg+xml"
    assert texts(response.data) == ["hitcount", problem]
    assert message in title(response.data)


def test_a_badge_of_an_id_that_is_not_public_is_a_401_badge_naming_the_setting(make_app: AppFactory) -> None:
    response = (
        make_app(HITCOUNT_READ_TOKENS="secret", HITCOUNT_PUBLIC_IDS="badge-*")
        .test_client()
        .get("/badge.svg?id=private")
    )
    assert response.status_code == 401
    assert response.mimetype == "image/svg+xml"
    assert texts(response.data) == ["hitcount", "id not public"]
    assert "HITCOUNT_PUBLIC_IDS" in title(response.data)


def test_a_badge_a_store_cannot_answer_is_a_503_badge_saying_so(make_app: AppFactory) -> None:
    response = make_app(stores={"down": DownStore}, HITCOUNT_STORE="down").test_client().get("/badge.svg?id=page")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert texts(response.data) == ["hitcount", "store unavailable"]


@pytest.mark.parametrize("window", WINDOWS, ids=[window.name for window in WINDOWS])
def test_a_badge_names_its_window_by_short_name_as_well_as_by_reference(
    client: FlaskClient, app: Flask, window: Window
) -> None:
    write(app, "page", one_age_per_window())
    by_name = client.get("/badge.svg", query_string={"id": "page", "window": window.name}).data
    by_reference = client.get("/badge.svg", query_string={"id": "page", "window": window.reference}).data
    assert texts(by_name) == texts(by_reference)


def test_a_fresh_badge_is_kept_a_few_seconds_and_no_page_can_make_it_run_anything(client: FlaskClient) -> None:
    response = client.get("/badge.svg?id=page")
    assert response.headers["Cache-Control"] == "max-age=2"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_badge_follows_the_read_rules_of_tokens_and_public_ids(make_app: AppFactory) -> None:
    client = make_app(HITCOUNT_READ_TOKENS="secret", HITCOUNT_PUBLIC_IDS="badge-*").test_client()
    assert client.get("/badge.svg?id=private").status_code == 401
    assert client.get("/badge.svg?id=private", headers={"Authorization": "Bearer secret"}).status_code == 200
    assert client.get("/badge.svg?id=badge-home").status_code == 200


@pytest.mark.parametrize(
    ("origins", "public_ids", "allowed"),
    [("*", "page", "*"), ("https://blog.example", "", "https://blog.example")],
    ids=["any-origin-public-id", "listed-origin"],
)
def test_reads_let_pages_show_counts_of_public_ids_or_from_listed_origins(
    make_app: AppFactory, origins: str, public_ids: str, allowed: str
) -> None:
    client = make_app(HITCOUNT_CORS_ORIGINS=origins, HITCOUNT_PUBLIC_IDS=public_ids).test_client()
    for path in ("/analytics/page", "/badge.svg?id=page&window=x"):  # errors too, so that a page can tell why
        assert (
            client.get(path, headers={"Origin": "https://blog.example"}).headers["Access-Control-Allow-Origin"]
            == allowed
        )


def test_with_any_origin_reads_of_ids_that_are_not_public_give_pages_no_cors_headers(make_app: AppFactory) -> None:
    client = make_app(HITCOUNT_PUBLIC_IDS="public-*").test_client()
    response = client.get("/analytics/page", headers={"Origin": "https://blog.example"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_reads_give_an_unlisted_origin_no_cors_headers_but_no_refusal(make_app: AppFactory) -> None:
    client = make_app(HITCOUNT_CORS_ORIGINS="https://blog.example", HITCOUNT_PUBLIC_IDS="*").test_client()
    response = client.get("/analytics/page", headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.headers["Vary"] == "Origin"
