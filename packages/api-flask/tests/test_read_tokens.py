"""HITCOUNT_READ_TOKENS and HITCOUNT_PUBLIC_IDS: reads, /metrics and /readyz's details behind a bearer token."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from api_testing import AppFactory
from flask.testing import FlaskClient

from hitcount.core import Config, Health, Setting
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


class StoreWithPassword(MemoryStore):
    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._url = config.get(STORE_URL)

    def health(self) -> Health:
        return Health(False, f"elasticsearch at {self._url}: cluster red")


@pytest.mark.parametrize("tokens", ["", TOKENS], ids=["open", "token"])
def test_readyz_details_never_show_a_urls_password(make_app: AppFactory, tokens: str) -> None:
    app = make_app(
        stores={"red": StoreWithPassword},
        registered=[STORE_URL],
        HITCOUNT_STORE="red",
        HITCOUNT_READ_TOKENS=tokens,
        HITCOUNT_RED_URL="https://hitcount:hunter2@es.internal:9200",
    )
    body = orjson.loads(app.test_client().get("/readyz", headers=bearer("first-token")).data)
    detail = "elasticsearch at https://hitcount:****@es.internal:9200: cluster red"
    assert body["checks"]["store"] == {"ok": False, "detail": detail}
