"""POST /analytics/batch: all or nothing, at most 1,000 hits, gzip with a bounded inflated size."""

from __future__ import annotations

import gzip
import tracemalloc

import orjson
import pytest
from api_testing import AppFactory, CountingQueue, queued_hits
from flask import Flask
from flask.testing import FlaskClient

from hitcount.api_flask.state import api_state
from hitcount.api_flask.tuning import Tuning
from hitcount.core import now_ns


def test_a_batch_answered_204_is_queued_whole_in_one_write(make_app: AppFactory) -> None:
    app = make_app(queues={"counting": CountingQueue}, HITCOUNT_QUEUE="counting")
    hits = [{"id": f"page-{index}"} for index in range(1000)]
    response = app.test_client().post("/analytics/batch", json=hits)
    assert response.status_code == 204
    assert [hit.id for hit in queued_hits(app)] == [hit["id"] for hit in hits]
    queue = api_state(app).backends.queue.get()
    assert isinstance(queue, CountingQueue)
    assert queue.publishes == 1


def test_a_batch_with_invalid_items_is_400_naming_their_indexes_and_nothing_is_queued(
    client: FlaskClient, app: Flask
) -> None:
    items = [{"id": "ok"}, {"id": ""}, {"id": "ok too"}, "not an object", {"id": "x", "timestamp": "never"}]
    response = client.post("/analytics/batch", json=items)
    assert response.status_code == 400
    body = orjson.loads(response.data)
    assert "1, 3, 4" in body["message"]
    assert [error["index"] for error in body["errors"]] == [1, 3, 4]
    assert "empty" in body["errors"][0]["message"]
    assert "JSON object" in body["errors"][1]["message"]
    assert "timestamp" in body["errors"][2]["message"]
    assert queued_hits(app) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "1 to 1000 hits, not 0"),
        (orjson.dumps([{"id": "x"}] * 1001), "1 to 1000 hits, not 1001"),
        (b'{"id": "x"}', "JSON array"),
        (b"[{", "not valid JSON"),
    ],
    ids=["empty", "1001-items", "object", "broken-json"],
)
def test_a_body_that_is_not_an_array_of_1_to_1000_hits_is_400(client: FlaskClient, body: bytes, message: str) -> None:
    response = client.post("/analytics/batch", data=body, content_type="text/plain")
    assert response.status_code == 400
    assert message in orjson.loads(response.data)["message"]


def test_a_gzip_batch_is_accepted(client: FlaskClient, app: Flask) -> None:
    milliseconds = now_ns() // 1_000_000
    body = gzip.compress(orjson.dumps([{"id": "a"}, {"id": "b", "timestamp": milliseconds}]))
    response = client.post("/analytics/batch", data=body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 204
    hits = queued_hits(app)
    assert [hit.id for hit in hits] == ["a", "b"]
    assert hits[1].timestamp == milliseconds * 1_000_000


def test_a_gzip_bomb_is_413_without_inflating_it(client: FlaskClient) -> None:
    bomb = gzip.compress(b"[" + b" " * 50_000_000 + b"]", compresslevel=9)
    assert len(bomb) < 64 * 1024
    tracemalloc.start()
    try:
        response = client.post("/analytics/batch", data=bomb, headers={"Content-Encoding": "gzip"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert "inflates" in orjson.loads(response.data)["message"]
    # Inflating it whole would hold 50 MB; only the first 64 KiB are inflated.
    assert peak < 5_000_000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not gzip at all", "not valid gzip"),
        (gzip.compress(b'[{"id": "x"}]')[:-6], "truncated"),
        (gzip.compress(b'[{"id": "x"}]') + b"junk", "data after its end"),
    ],
    ids=["garbage", "truncated", "trailing-junk"],
)
def test_a_broken_gzip_body_is_400(client: FlaskClient, body: bytes, message: str) -> None:
    response = client.post("/analytics/batch", data=body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert message in orjson.loads(response.data)["message"]


def test_a_batch_body_over_the_limit_is_413(make_app: AppFactory) -> None:
    app = make_app(tuning=Tuning(max_body=1024))
    response = app.test_client().post("/analytics/batch", json=[{"id": "x" * 100}] * 20)
    assert response.status_code == 413
