"""Group commit: concurrent requests share queue writes, and every 204'd hit is in the queue."""

from __future__ import annotations

import gevent
import gevent.event
import pytest
from api_testing import AppFactory, CountingQueue, queued_batches, queued_hits
from flask import Flask

from hitcount.api_flask.app import TUNING
from hitcount.api_flask.batcher import GroupCommit
from hitcount.api_flask.state import api_state
from hitcount.api_flask.tuning import Tuning
from hitcount.core import Hit, QueueUnavailable, now_ns


def post_concurrently(app: Flask, ids: list[str]) -> list[int]:
    """POST one hit per id, each from its own greenlet (the way gevent workers serve requests)."""

    def post(id: str) -> int:
        return app.test_client().post("/analytics", json={"id": id}).status_code

    greenlets = [gevent.spawn(post, id) for id in ids]
    gevent.joinall(greenlets, timeout=10, raise_error=True)
    return [greenlet.value for greenlet in greenlets]


def counting_app(make_app: AppFactory, blocking: bool = False, tuning: Tuning = TUNING) -> tuple[Flask, CountingQueue]:
    app = make_app(queues={"counting": CountingQueue}, HITCOUNT_QUEUE="counting", blocking=blocking, tuning=tuning)
    queue = api_state(app).backends.queue.get()
    assert isinstance(queue, CountingQueue)
    return app, queue


def test_concurrent_requests_share_queue_writes(make_app: AppFactory) -> None:
    app, queue = counting_app(make_app)
    ids = [f"page-{index}" for index in range(200)]
    assert post_concurrently(app, ids) == [204] * len(ids)
    assert queue.publishes < len(ids) / 10
    assert sorted(hit.id for hit in queued_hits(app)) == sorted(ids)


def test_requests_arriving_during_a_write_share_the_next_one(make_app: AppFactory) -> None:
    # No gathering interval: only the write in flight makes the next group grow.
    app, queue = counting_app(make_app, tuning=Tuning(commit_interval=0))
    ids = [f"page-{index}" for index in range(100)]
    assert post_concurrently(app, ids) == [204] * len(ids)
    assert queue.publishes < len(ids)
    assert sorted(hit.id for hit in queued_hits(app)) == sorted(ids)


@pytest.mark.parametrize("blocking", [False, True], ids=["cooperative", "on-its-own-thread"])
def test_a_lone_request_is_written_and_answered(make_app: AppFactory, blocking: bool) -> None:
    app, queue = counting_app(make_app, blocking)
    assert app.test_client().post("/analytics", json={"id": "alone"}).status_code == 204
    assert queue.publishes == 1
    assert [hit.id for hit in queued_hits(app)] == ["alone"]


def test_batches_and_single_hits_share_writes_without_splitting_a_batch(make_app: AppFactory) -> None:
    app, queue = counting_app(make_app)

    def post_batch(start: int) -> int:
        batch = [{"id": f"batch-{start + index}"} for index in range(1000)]
        return app.test_client().post("/analytics/batch", json=batch).status_code

    greenlets = [gevent.spawn(post_batch, start) for start in range(0, 8000, 1000)]
    gevent.joinall(greenlets, timeout=10, raise_error=True)
    assert [greenlet.value for greenlet in greenlets] == [204] * 8
    writes = queued_batches(app)
    assert sum(len(write) for write in writes) == 8000
    # Whole batches only, at most 5,000 hits per write: 8 batches need 2 writes at least.
    assert all(len(write) % 1000 == 0 and len(write) <= 5000 for write in writes)
    assert 2 <= queue.publishes < 8


def test_a_request_whose_write_was_cut_short_by_the_worker_stopping_is_never_answered_as_queued() -> None:
    writing = gevent.event.Event()

    def publish(payload: bytes, hits: int) -> None:
        writing.set()
        gevent.sleep(30)  # a queue that has not answered yet

    batcher = GroupCommit(publish, interval=0, timeout=60)
    request = gevent.spawn(batcher.submit, [Hit("page", now_ns())])
    writing.wait(5)
    batcher.close()  # the worker exits: its batcher is killed mid-write
    request.join(5)
    assert isinstance(request.exception, QueueUnavailable), request.value


def test_a_closed_batcher_refuses_waiting_and_later_requests_without_writing_them() -> None:
    published: list[int] = []
    batcher = GroupCommit(lambda payload, hits: published.append(hits), interval=0.05, timeout=60)
    waiting = gevent.spawn(batcher.submit, [Hit("page", now_ns())])
    gevent.sleep(0)  # it joined a group, still gathering
    batcher.close()
    waiting.join(5)
    assert isinstance(waiting.exception, QueueUnavailable)
    with pytest.raises(QueueUnavailable, match="stopping"):
        batcher.submit([Hit("page", now_ns())])
    gevent.sleep(0.1)
    assert published == []
