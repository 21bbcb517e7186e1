"""Headers and words every answer keeps to: nosniff everywhere, a client's input echoed at most 64 characters."""

from __future__ import annotations

import gzip

import orjson
import pytest
from api_testing import AppFactory
from flask.testing import FlaskClient

from hitcount.core import Counts
from hitcount.core.backends.memory import MemoryStore

LONG = "x" * 500


def requests(client: FlaskClient) -> dict[str, object]:
    """One answer of every kind: each endpoint, success and error, Track from the front or the views."""
    return {
        "track 204": client.post("/analytics", json={"id": "a"}),
        "batch 204": client.post("/analytics/batch", json=[{"id": "a"}]),
        "track 400": client.post("/analytics", data=b"nope"),
        "batch 400": client.post("/analytics/batch", data=b"[{}]"),
        "preflight": client.options("/analytics", headers={"Origin": "https://a.example"}),
        "read 200": client.get("/analytics/a"),
        "read 400": client.get("/analytics/bad%01id"),
        "404": client.get("/nowhere"),
        "405": client.delete("/analytics"),
        "healthz": client.get("/healthz"),
        "readyz": client.get("/readyz"),
        "metrics": client.get("/metrics"),
        "openapi": client.get("/openapi.json"),
    }


def test_every_answer_says_nosniff(client: FlaskClient) -> None:
    for name, response in requests(client).items():
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name  # type: ignore[attr-defined]


def test_refusals_and_bugs_say_nosniff_too(make_app: AppFactory) -> None:
    class BuggyStore(MemoryStore):
        def counts(self, id: str, now: int) -> Counts:
            raise RuntimeError("a bug")

    app = make_app(stores={"buggy": BuggyStore}, HITCOUNT_STORE="buggy", HITCOUNT_CORS_ORIGINS="https://a.example")
    client = app.test_client()
    for response in (
        client.get("/analytics/a"),
        client.post("/analytics", json={"id": "a"}, headers={"Origin": "https://b.example"}),
    ):
        assert response.status_code in {500, 403}
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def message(response: object) -> str:
    return str(orjson.loads(response.data))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/analytics", orjson.dumps({"id": "a", "timestamp": LONG}), {}),
        ("/analytics", orjson.dumps({"id": "a", LONG: 1}), {}),
        ("/analytics/batch", orjson.dumps([{"id": "a", "timestamp": LONG}]), {}),
        ("/analytics", b'{"id": "a"}', {"Content-Encoding": LONG}),
        (
            "/analytics",
            gzip.compress(orjson.dumps({"id": "a", "timestamp": "9" * 60 + LONG})),
            {"Content-Encoding": "gzip"},
        ),
    ],
    ids=["timestamp", "field", "batch-item", "content-encoding", "gzip-timestamp"],
)
def test_input_echoed_in_an_error_is_cut_to_64_characters(
    client: FlaskClient, path: str, body: bytes, headers: dict[str, str]
) -> None:
    response = client.post(path, data=body, headers=headers)
    assert response.status_code in {400, 415}
    text = message(response)
    assert "x" * 4 in text  # the input is recognisable
    assert "x" * 65 not in text
    assert len(text) < 300


def test_a_foreign_origin_is_echoed_cut_to_64_characters(make_app: AppFactory) -> None:
    client = make_app(HITCOUNT_CORS_ORIGINS="https://a.example").test_client()
    response = client.post("/analytics", json={"id": "a"}, headers={"Origin": "https://" + LONG})
    assert response.status_code == 403
    assert "x" * 56 in message(response)
    assert "x" * 65 not in message(response)
