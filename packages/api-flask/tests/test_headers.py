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
    """One answer of every kind: each endpoint, success and error."""
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


# An error answer stays this small whatever the request held, and still names its first offenders.
ANSWER_BOUND = 2048


def test_a_hit_with_hundreds_of_unknown_fields_is_answered_with_the_first_few_and_a_count(client: FlaskClient) -> None:
    hit = {"id": "a", **{f"unknown-{index:03}-" + "x" * 50: 1 for index in range(900)}}
    body = orjson.dumps(hit)
    assert len(body) > 55_000
    response = client.post("/analytics", data=body)
    assert response.status_code == 400
    assert len(response.data) < ANSWER_BOUND
    text = message(response)
    assert all(f"unknown-{index:03}-" in text for index in range(5))
    assert "unknown-005-" not in text
    assert "and 895 more" in text


def test_input_shown_with_escapes_is_cut_as_shown(client: FlaskClient) -> None:
    invisible = "\U000e0001" * 64  # a tag character, shown as ten characters of escape
    hit = {"id": "a", **{f"{index}{invisible}": 1 for index in range(10)}}
    response = client.post("/analytics", data=orjson.dumps(hit))
    assert response.status_code == 400
    assert len(response.data) < ANSWER_BOUND
    text = orjson.loads(response.data)["message"]
    assert "'0\\U000e0001" in text  # recognisable: the first field, escaped
    assert "and 5 more" in text


@pytest.mark.parametrize(
    "item",
    [
        {"id": "a", "field-" + "x" * 30: 1},
        {"id": "bad\x01" + "x" * 30},
        {"id": "a", "timestamp": "x" * 30},
        {"id": "a", "uid": "x" * 30},
        ["x" * 30],
    ],
    ids=["unknown-field", "bad-id", "bad-timestamp", "bad-uid", "not-an-object"],
)
def test_a_batch_of_a_thousand_bad_items_is_answered_with_the_first_few_and_a_count(
    client: FlaskClient, item: object
) -> None:
    response = client.post("/analytics/batch", data=orjson.dumps([item] * 1000))
    assert response.status_code == 400
    assert len(response.data) < ANSWER_BOUND
    body = orjson.loads(response.data)
    assert "indexes 0, 1, 2, 3, 4 and 995 more" in body["message"]
    assert [error["index"] for error in body["errors"]] == [0, 1, 2, 3, 4]
    assert all(error["message"] for error in body["errors"])
