"""GET /analytics/<id>: the spec's answer, for any valid id written URL-encoded."""

from __future__ import annotations

import sqlite3
from urllib.parse import quote

import orjson
import pytest
from api_testing import AppFactory, DownStore
from flask import Flask
from flask.testing import FlaskClient

from hitcount.api_flask.state import api_state
from hitcount.core import Counts, Hit, HitStore, StoreError, StoreUnavailable, now_ns
from hitcount.core.backends.memory import MemoryStore
from hitcount.core.testing.windows import expected_counts, one_age_per_window
from hitcount.core.windows import NS_PER_SECOND, WINDOWS


def write(app: Flask, *hits: Hit) -> None:
    api_state(app).backends.store.get().write(hits)


def test_counts_are_the_spec_answer_longest_window_first(client: FlaskClient, app: Flask) -> None:
    now = now_ns()
    hits_by_age = {age: number for number, age in enumerate(one_age_per_window(), start=1)}
    # The hits of one age are one visitor's (keyed by their number of hits), and one more hit has no key.
    write(
        app,
        *(Hit("page", now - int(age * NS_PER_SECOND), visitor=n) for age, n in hits_by_age.items() for _ in range(n)),
    )
    write(app, Hit("page", now - 1), Hit("other", now))
    response = client.get("/analytics/page")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert orjson.loads(response.data) == {
        "id": "page",
        "counts": [
            {"reference": window.reference, "count": count + 1, "visitors": visitors}
            for window, count, visitors in zip(WINDOWS, expected_counts(hits_by_age), [5, 4, 3, 2, 1], strict=True)
        ],
        "total": sum(hits_by_age.values()) + 1,
    }


def test_an_id_never_hit_counts_zero_everywhere(client: FlaskClient) -> None:
    body = orjson.loads(client.get("/analytics/never").data)
    assert [window["count"] for window in body["counts"]] == [0] * len(WINDOWS)


@pytest.mark.parametrize(
    "id", ["café/ünïcode ✓", "a//b", "with space", "100%", "?q=1#frag", "batch", "/docs/intro", "//", "/", "trail/"]
)
def test_any_valid_id_is_read_back_url_encoded(client: FlaskClient, app: Flask, id: str) -> None:
    write(app, Hit.now(id))
    response = client.get("/analytics/" + quote(id, safe=""))
    assert response.status_code == 200
    body = orjson.loads(response.data)
    assert body["id"] == id
    assert body["counts"][-1]["count"] == 1


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/analytics/" + "x" * 257, "at most 256"),
        ("/analytics/" + quote("é" * 128 + "x"), "not 257"),
        ("/analytics/a%00b", "control characters"),
        ("/analytics/a%0Ab", "control characters"),
        ("/analytics/evil%E2%80%AEtxt", "format characters"),  # U+202E RIGHT-TO-LEFT OVERRIDE
        ("/analytics/zero%E2%80%8Bwidth", "U+200B ZERO WIDTH SPACE"),
        ("/analytics/non%EF%B7%90char", "noncharacters"),  # U+FDD0
    ],
)
def test_an_invalid_id_in_the_path_is_400(client: FlaskClient, path: str, message: str) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert message in orjson.loads(response.data)["message"]


def test_an_id_is_read_in_normal_form_c_whichever_form_the_path_spells(client: FlaskClient, app: Flask) -> None:
    write(app, Hit.now("caf\u00e9"))
    for spelled in ("caf\u00e9", "cafe\u0301"):  # composed, and e + COMBINING ACUTE ACCENT
        response = client.get("/analytics/" + quote(spelled, safe=""))
        assert response.status_code == 200
        body = orjson.loads(response.data)
        assert body["id"] == "caf\u00e9"
        assert body["counts"][-1]["count"] == 1


def test_a_store_that_cannot_answer_gives_503_with_retry_after(make_app: AppFactory) -> None:
    response = make_app(stores={"down": DownStore}, HITCOUNT_STORE="down").test_client().get("/analytics/page")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert orjson.loads(response.data) == {"message": "the store cannot answer now"}


class ClusterRed(StoreUnavailable):
    """A backend's own kind of a core error."""


class RedStore(MemoryStore):
    def counts(self, id: str, now: int) -> Counts:
        raise ClusterRed("cluster red")


def test_a_backends_subclass_of_a_core_error_is_answered_as_that_error(make_app: AppFactory) -> None:
    response = make_app(stores={"red": RedStore}, HITCOUNT_STORE="red").test_client().get("/analytics/page")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert orjson.loads(response.data) == {"message": "the store cannot answer now"}


def test_a_store_error_is_a_502_whose_words_go_to_the_log_only(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    class RefusingStore(MemoryStore):
        def counts(self, id: str, now: int) -> Counts:
            raise StoreError("elasticsearch at http://es:9200: counting 'page': 400 search_phase_execution_exception")

    response = (
        make_app(stores={"refusing": RefusingStore}, HITCOUNT_STORE="refusing").test_client().get("/analytics/page")
    )
    assert response.status_code == 502
    assert "Retry-After" not in response.headers
    assert orjson.loads(response.data) == {"message": "the store failed"}
    assert "http://es:9200: counting 'page': 400 search_phase_execution_exception" in caplog.text


def test_a_bug_in_the_store_is_a_logged_json_500(make_app: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    class BuggyStore(MemoryStore):
        def counts(self, id: str, now: int) -> Counts:
            raise RuntimeError("a bug")

    response = make_app(stores={"buggy": BuggyStore}, HITCOUNT_STORE="buggy").test_client().get("/analytics/page")
    assert response.status_code == 500
    assert orjson.loads(response.data) == {"message": "internal error; it was logged"}
    assert "a bug" in caplog.text


def test_a_store_that_cannot_be_opened_gives_503_and_is_tried_again(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    attempts = []

    def locked(namespace: str) -> HitStore:
        attempts.append(namespace)
        if len(attempts) == 1:
            raise sqlite3.OperationalError("database is locked")
        return MemoryStore(namespace)

    client = make_app(stores={"locked": locked}, HITCOUNT_STORE="locked").test_client()
    first = client.get("/analytics/page")
    assert first.status_code == 503
    assert first.headers["Retry-After"] == "1"
    assert orjson.loads(first.data) == {"message": "the store cannot answer now"}
    assert "store down: cannot open it: database is locked" in caplog.text
    assert client.get("/analytics/page").status_code == 200
