"""HITCOUNT_READ_TOKENS and HITCOUNT_PUBLIC_IDS: reads, /metrics and /readyz's details behind a bearer token."""

from __future__ import annotations

import unicodedata
from fnmatch import fnmatchcase
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from api_testing import AppFactory
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hitcount.api_flask.tuning import Tuning
from hitcount.core import Counts, Health, Setting, StoreUnavailable
from hitcount.core.backends.memory import MemoryQueue, MemoryStore

TOKENS = "first-token, second-token"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def guarded(make_app: AppFactory) -> FlaskClient:
    return make_app(HITCOUNT_READ_TOKENS=TOKENS, HITCOUNT_PUBLIC_IDS="badge-*, public/exact").test_client()


@pytest.mark.parametrize("path", ["/analytics/page", "/metrics"])
def test_without_tokens_set_reads_and_metrics_are_open(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/analytics/page", "/metrics"])
def test_a_read_or_metrics_without_a_token_is_a_json_401_asking_for_a_bearer(guarded: FlaskClient, path: str) -> None:
    response = guarded.get(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in orjson.loads(response.data)["message"]


@pytest.mark.parametrize(
    "authorization",
    ["Bearer wrong-token", "Bearer first-toke", "Basic Zmlyc3QtdG9rZW4=", "first-token", "Bearer ", ""],
    ids=["wrong", "prefix", "basic", "no-scheme", "empty-bearer", "empty"],
)
def test_anything_but_a_listed_bearer_token_is_401(guarded: FlaskClient, authorization: str) -> None:
    assert guarded.get("/analytics/page", headers={"Authorization": authorization}).status_code == 401


@pytest.mark.parametrize("token", ["first-token", "second-token"])
def test_every_listed_token_opens_reads_and_metrics_so_that_tokens_can_be_rotated(
    guarded: FlaskClient, token: str
) -> None:
    assert guarded.get("/analytics/page", headers=bearer(token)).status_code == 200
    assert guarded.get("/metrics", headers={"Authorization": f"bearer  {token} "}).status_code == 200


@pytest.mark.parametrize("id", ["badge-42", "badge-", "public/exact"])
def test_ids_matching_a_public_pattern_are_read_without_a_token(guarded: FlaskClient, id: str) -> None:
    response = guarded.get(f"/analytics/{id}")
    assert response.status_code == 200
    assert orjson.loads(response.data)["id"] == id


@pytest.mark.parametrize("id", ["Badge-42", "xbadge-42", "public/exact/more", "public/other"])
def test_ids_outside_the_public_patterns_need_a_token(guarded: FlaskClient, id: str) -> None:
    assert guarded.get(f"/analytics/{id}").status_code == 401


def test_an_invalid_id_without_a_token_is_401_so_that_nothing_is_learnt_of_it(guarded: FlaskClient) -> None:
    assert guarded.get("/analytics/bad%01id").status_code == 401
    assert guarded.get("/analytics/bad%01id", headers=bearer("first-token")).status_code == 400


@pytest.mark.parametrize("path", ["/analytics/page", "/badge.svg?id=page"])
def test_counts_that_took_a_token_are_private_so_that_no_shared_cache_keeps_them(
    guarded: FlaskClient, path: str
) -> None:
    response = guarded.get(path, headers=bearer("first-token"))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, max-age=2"


@pytest.mark.parametrize("path", ["/analytics/badge-42", "/badge.svg?id=badge-42"])
@pytest.mark.parametrize("authorization", [{}, bearer("first-token")], ids=["no-token", "token"])
def test_counts_of_a_public_id_stay_shared_cacheable_token_or_not(
    guarded: FlaskClient, path: str, authorization: dict[str, str]
) -> None:
    assert guarded.get(path, headers=authorization).headers["Cache-Control"] == "max-age=2"


def test_stale_counts_that_took_a_token_are_private_too(make_app: AppFactory) -> None:
    client = make_app(
        stores={"down": DownStore}, HITCOUNT_STORE="down", HITCOUNT_READ_TOKENS=TOKENS, tuning=Tuning(read_max_age=0)
    ).test_client()
    client.get("/analytics/page", headers=bearer("first-token"))  # kept, fresh
    DownStore.down = True
    try:
        stale = client.get("/analytics/page", headers=bearer("first-token"))
    finally:
        DownStore.down = False
    assert stale.status_code == 200
    assert stale.headers["Cache-Control"] == "private, no-cache"


class DownStore(MemoryStore):
    """A store that fails every count while ``down``."""

    down = False

    def counts(self, id: str, now: int) -> Counts:
        if DownStore.down:
            raise StoreUnavailable("connection refused")
        return super().counts(id, now)


# Public patterns, and ids whose text as sent matches one while the id read (normal form C) does not.
UNICODE_PUBLIC_IDS = "blog*, \u1112*, caf\u00e9-*, e?"
NOT_IN_NORMAL_FORM = {
    "combining-accent": ("blog\u0301-secret", "blo\u01f5-secret"),
    "decomposed-hangul": ("\u1112\u1161\u11ab-secret", "\ud55c-secret"),
    "e-combining-acute": ("e\u0301", "\u00e9"),
    "marks-composed-past-another": ("blog\u0323\u0307", "blo\u0121\u0323"),
}
ORIGIN = {"Origin": "https://shop.example"}


@pytest.fixture
def unicode_guarded(make_app: AppFactory) -> FlaskClient:
    # Off: the property test below reads hundreds of ids from one address in a second.
    return make_app(
        HITCOUNT_READ_TOKENS=TOKENS, HITCOUNT_PUBLIC_IDS=UNICODE_PUBLIC_IDS, HITCOUNT_READ_RATE_LIMIT="off"
    ).test_client()


@pytest.mark.parametrize(("sent", "read"), NOT_IN_NORMAL_FORM.values(), ids=NOT_IN_NORMAL_FORM.keys())
def test_a_read_is_decided_on_the_id_read_not_on_the_id_as_sent(
    unicode_guarded: FlaskClient, sent: str, read: str
) -> None:
    path = "/analytics/" + quote(sent, safe="")
    assert unicode_guarded.get(path).status_code == 401
    with_token = unicode_guarded.get(path, headers=bearer("first-token"))
    assert with_token.status_code == 200
    assert orjson.loads(with_token.data)["id"] == read


@pytest.mark.parametrize(("sent", "read"), NOT_IN_NORMAL_FORM.values(), ids=NOT_IN_NORMAL_FORM.keys())
def test_a_badge_is_decided_on_the_id_read_not_on_the_id_as_sent(
    unicode_guarded: FlaskClient, sent: str, read: str
) -> None:
    assert unicode_guarded.get("/badge.svg", query_string={"id": sent}).status_code == 401
    assert unicode_guarded.get("/badge.svg", query_string={"id": read}).status_code == 401
    assert (
        unicode_guarded.get("/badge.svg", query_string={"id": sent}, headers=bearer("first-token")).status_code == 200
    )


@pytest.mark.parametrize(("sent", "read"), NOT_IN_NORMAL_FORM.values(), ids=NOT_IN_NORMAL_FORM.keys())
def test_any_origin_may_show_only_ids_public_as_read(unicode_guarded: FlaskClient, sent: str, read: str) -> None:
    headers = {**ORIGIN, **bearer("first-token")}
    for response in (
        unicode_guarded.get("/analytics/" + quote(sent, safe=""), headers=headers),
        unicode_guarded.get("/badge.svg", query_string={"id": sent}, headers=headers),
    ):
        assert response.status_code == 200
        assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("sent", ["cafe\u0301-menu", "caf\u00e9-menu"], ids=["decomposed", "composed"])
def test_an_id_public_as_read_is_public_in_whichever_form_it_is_sent(unicode_guarded: FlaskClient, sent: str) -> None:
    for response in (
        unicode_guarded.get("/analytics/" + quote(sent, safe=""), headers=ORIGIN),
        unicode_guarded.get("/badge.svg", query_string={"id": sent}, headers=ORIGIN),
    ):
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_a_public_pattern_written_decomposed_matches_the_ids_read(make_app: AppFactory) -> None:
    client = make_app(HITCOUNT_READ_TOKENS=TOKENS, HITCOUNT_PUBLIC_IDS="cafe\u0301-*").test_client()
    assert client.get("/analytics/" + quote("caf\u00e9-menu", safe="")).status_code == 200


# Ids that start as a pattern does, then go on with letters, combining marks that compose with
# them or past one another, Hangul jamo and syllables, and signs whose normal form C is a letter.
ID_STARTS = ["", "b", "blog", "e", "caf", "cafe", "\u1112"]
ID_CHARACTERS = "bge-caf\u00e9\u01f5\u0301\u0323\u0307\u1112\u1161\u11ab\ud55c\u212b\u212a"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.sampled_from(ID_STARTS), rest=st.text(alphabet=ID_CHARACTERS, max_size=5))
def test_every_access_decision_is_the_decision_on_the_id_in_normal_form_c(
    unicode_guarded: FlaskClient, start: str, rest: str
) -> None:
    sent = start + rest or "b"
    read = unicodedata.normalize("NFC", sent)
    patterns = [unicodedata.normalize("NFC", pattern.strip()) for pattern in UNICODE_PUBLIC_IDS.split(",")]
    public = any(fnmatchcase(read, pattern) for pattern in patterns)
    path = "/analytics/" + quote(sent, safe="")
    counts = unicode_guarded.get(path, headers=ORIGIN)
    shown = unicode_guarded.get("/badge.svg", query_string={"id": sent}, headers=ORIGIN)
    authenticated = unicode_guarded.get(path, headers={**ORIGIN, **bearer("first-token")})
    for response in (counts, shown):
        assert response.status_code == (200 if public else 401)
    assert authenticated.status_code == 200
    assert ("Access-Control-Allow-Origin" in authenticated.headers) == public


def test_track_needs_no_token(guarded: FlaskClient) -> None:
    assert guarded.post("/analytics", json={"id": "x"}).status_code == 204
    assert guarded.post("/analytics/batch", json=[{"id": "x"}]).status_code == 204


def test_healthz_and_the_openapi_document_need_no_token(guarded: FlaskClient) -> None:
    assert guarded.get("/healthz").status_code == 200
    assert guarded.get("/openapi.json").status_code == 200


def test_readyz_without_a_token_says_ready_and_degraded_but_no_details(guarded: FlaskClient) -> None:
    response = guarded.get("/readyz")
    assert response.status_code == 200
    assert orjson.loads(response.data) == {"ready": True, "degraded": False}
    with_token = orjson.loads(guarded.get("/readyz", headers=bearer("second-token")).data)
    assert with_token["checks"]["queue"] == {"ok": True, "detail": "in-process memory queue"}


class DownQueue(MemoryQueue):
    def health(self) -> Health:
        return Health(False, "redis queue redis://cache.internal:6379/0: connection refused")


def test_readyz_without_a_token_is_still_503_when_no_hit_can_be_taken(make_app: AppFactory, tmp_path: Path) -> None:
    (tmp_path / "spool").write_text("not a directory")  # the spool cannot be opened
    app = make_app(queues={"down": DownQueue}, HITCOUNT_QUEUE="down", HITCOUNT_READ_TOKENS=TOKENS)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert orjson.loads(response.data) == {"ready": False, "degraded": True}
    assert b"cache.internal" not in response.data


# The URL setting of a store plugin, whose client's words quote it whole.
STORE_URL = Setting("HITCOUNT_RED_URL", "", "URL of the red store", str, url=True)
RED_URL = "https://hitcount:hunter2@es.internal:9200"


class StoreWithPassword(MemoryStore):
    def health(self) -> Health:
        return Health(False, f"elasticsearch at {RED_URL}: cluster red")


@pytest.mark.parametrize("tokens", ["", TOKENS], ids=["open", "token"])
def test_readyz_details_never_show_a_urls_password(make_app: AppFactory, tokens: str) -> None:
    app = make_app(
        stores={"red": StoreWithPassword},
        registered=[STORE_URL],
        HITCOUNT_STORE="red",
        HITCOUNT_READ_TOKENS=tokens,
        HITCOUNT_RED_URL=RED_URL,
    )
    body = orjson.loads(app.test_client().get("/readyz", headers=bearer("first-token")).data)
    detail = "elasticsearch at https://hitcount:****@es.internal:9200: cluster red"
    assert body["checks"]["store"] == {"ok": False, "detail": detail}
