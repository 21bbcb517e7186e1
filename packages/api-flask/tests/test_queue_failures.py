"""When the queue cannot take hits: spooled (204) while it is down, 503 with Retry-After when it is full
or the spool is; never a false 204."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import gevent
import orjson
import pytest
from api_testing import AppFactory, forwarded, queued_hits, rejected, spooled
from prometheus_client import REGISTRY

from hitcount.api_flask.backends import OwnThread
from hitcount.api_flask.tuning import Tuning
from hitcount.core import QueueFull, QueueUnavailable, SqliteQueue
from hitcount.core.backends.memory import MemoryQueue


class DownQueue(MemoryQueue):
    def publish(self, payload: bytes, hits: int) -> None:
        raise QueueUnavailable("redis at 127.0.0.1:1: connection refused")


class FullQueue(MemoryQueue):
    def publish(self, payload: bytes, hits: int) -> None:
        raise QueueFull("backlog at its maximum of 1000000 hits")


class BrokenQueue(MemoryQueue):
    def publish(self, payload: bytes, hits: int) -> None:
        raise ConnectionResetError("a client library error the backend did not translate")


@pytest.mark.parametrize(
    ("queue", "message", "reason"),
    [
        (FullQueue, "backlog at its maximum", "queue_full"),
        (BrokenQueue, "ConnectionResetError", "queue_unavailable"),
    ],
    ids=["full", "untranslated-error"],
)
@pytest.mark.parametrize("path", ["/analytics", "/analytics/batch"])
def test_a_queue_that_refuses_gives_503_with_retry_after_at_once_and_its_words_go_to_the_log(
    make_app: AppFactory,
    queue: type[MemoryQueue],
    message: str,
    reason: str,
    path: str,
    *,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An enqueue timeout far longer than any slowness of the machine: a 503 "at once" is one not waiting it out.
    app = make_app(queues={"failing": queue}, HITCOUNT_QUEUE="failing", tuning=Tuning(enqueue_timeout=30))
    before = rejected(reason)
    started = time.monotonic()
    response = app.test_client().post(path, data=b'[{"id": "x"}]' if path.endswith("batch") else b'{"id": "x"}')
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert orjson.loads(response.data) == {"message": "the queue cannot take hits now"}
    assert message in caplog.text
    assert time.monotonic() - started < 10
    assert rejected(reason) - before == 1


@pytest.fixture
def stuck_queue() -> Iterator[type[MemoryQueue]]:
    """A queue whose publish blocks its thread (like a hung backend) until the test ends or releases it."""
    release = threading.Event()

    class StuckQueue(MemoryQueue):
        released = release

        def publish(self, payload: bytes, hits: int) -> None:
            release.wait(30)
            super().publish(payload, hits)

    yield StuckQueue
    release.set()


def test_a_queue_that_does_not_answer_gives_503_within_the_timeout_and_late_hits_are_never_written(
    make_app: AppFactory, stuck_queue: type[MemoryQueue]
) -> None:
    app = make_app(queues={"stuck": stuck_queue}, HITCOUNT_QUEUE="stuck", blocking=True)  # on a thread, like sqlite

    def post(id: str) -> tuple[int, str | None, float]:
        started = time.monotonic()
        response = app.test_client().post("/analytics", json={"id": id})
        return response.status_code, response.headers.get("Retry-After"), time.monotonic() - started

    first = gevent.spawn(post, "in-flight")
    gevent.sleep(0.1)  # its write is now blocked in the queue
    second = gevent.spawn(post, "waiting")
    gevent.joinall([first, second], timeout=20)
    for status, retry_after, elapsed in (first.value, second.value):
        assert status == 503
        assert retry_after == "1"
        # The 1 s timeout waited out, never the 30 s the queue hangs (the bound has a loaded machine's slack).
        assert 0.9 <= elapsed < 10
    stuck_queue.released.set()  # type: ignore[attr-defined]
    # Once the queue answers, the group that outlived its deadline is dropped, not written late.
    after, _, _ = post("after")
    assert after == 204
    assert [hit.id for hit in queued_hits(app)] == ["in-flight", "after"]


@pytest.mark.parametrize("path", ["/analytics", "/analytics/batch"])
def test_while_the_queue_is_down_hits_are_spooled_and_answered_204(
    make_app: AppFactory, path: str, tmp_path: Path
) -> None:
    app = make_app(queues={"down": DownQueue}, HITCOUNT_QUEUE="down")
    before = REGISTRY.get_sample_value("hitcount_api_spooled_hits_total") or 0.0
    response = app.test_client().post(path, data=b'[{"id": "x"}]' if path.endswith("batch") else b'{"id": "x"}')
    assert response.status_code == 204
    assert spooled(tmp_path) == 1
    assert (REGISTRY.get_sample_value("hitcount_api_spooled_hits_total") or 0.0) - before == 1


def test_a_full_spool_is_a_full_queue(make_app: AppFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(queues={"down": DownQueue}, HITCOUNT_QUEUE="down", tuning=Tuning(spool_max_hits=2))
    client = app.test_client()
    assert client.post("/analytics/batch", json=[{"id": "a"}, {"id": "b"}]).status_code == 204
    refused = client.post("/analytics", json={"id": "c"})
    assert refused.status_code == 503
    assert "the spool holds its maximum of 2 hits" in caplog.text
    assert spooled(tmp_path) == 2


def test_a_full_spool_is_a_few_log_lines_however_many_requests_it_refuses(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(queues={"down": DownQueue}, HITCOUNT_QUEUE="down", tuning=Tuning(spool_max_hits=1))
    client = app.test_client()
    assert client.post("/analytics", json={"id": "a"}).status_code == 204
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert {client.post("/analytics", json={"id": "b"}).status_code for _ in range(50)} == {503}
    lines = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(lines) <= 3, [record.getMessage() for record in lines]  # one per request before


def test_a_spool_full_in_bytes_is_a_full_queue(
    make_app: AppFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(queues={"down": DownQueue}, HITCOUNT_QUEUE="down", HITCOUNT_SPOOL_MAX_BYTES="200")
    client = app.test_client()
    assert client.post("/analytics", json={"id": "small"}).status_code == 204
    refused = client.post("/analytics", json={"id": "x" * 200})
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert "HITCOUNT_SPOOL_MAX_BYTES=200" in caplog.text
    assert spooled(tmp_path) == 1


def test_spooled_hits_are_forwarded_once_the_queue_recovers(make_app: AppFactory, tmp_path: Path) -> None:
    class FlakyQueue(MemoryQueue):
        down = True

        def publish(self, payload: bytes, hits: int) -> None:
            if FlakyQueue.down:
                raise QueueUnavailable("restarting")
            super().publish(payload, hits)

    app = make_app(queues={"flaky": FlakyQueue}, HITCOUNT_QUEUE="flaky")
    client = app.test_client()
    assert client.post("/analytics", json={"id": "spooled"}).status_code == 204
    FlakyQueue.down = False
    assert client.post("/analytics", json={"id": "later"}).status_code == 204
    assert sorted(hit.id for hit in forwarded(app, ["spooled", "later"])) == ["later", "spooled"]
    assert spooled(tmp_path) == 0


def test_a_queue_that_cannot_be_opened_spools(make_app: AppFactory, tmp_path: Path) -> None:
    def unreachable(namespace: str) -> MemoryQueue:
        raise QueueUnavailable("no route to the queue")

    app = make_app(queues={"unreachable": unreachable}, HITCOUNT_QUEUE="unreachable")
    assert app.test_client().post("/analytics", json={"id": "x"}).status_code == 204
    assert spooled(tmp_path) == 1


def test_a_locked_sqlite_queue_spools_and_its_hits_go_in_once_the_lock_is_released(
    make_app: AppFactory, tmp_path: Path
) -> None:
    def quick(namespace: str) -> SqliteQueue:
        """Core's sqlite queue, waiting 100 ms for another process's lock rather than 5 s."""
        return SqliteQueue(tmp_path, visibility_timeout=30.0, busy_timeout=0.1)

    app = make_app(queues={"sqlite-quick": quick}, HITCOUNT_QUEUE="sqlite-quick", blocking=True)
    client = app.test_client()
    assert client.post("/analytics", json={"id": "first"}).status_code == 204
    holder = sqlite3.connect(tmp_path / "queue.sqlite3", isolation_level=None)
    holder.execute("begin immediate")  # another process writing, past the busy timeout
    locked = client.post("/analytics", json={"id": "meanwhile"})
    assert locked.status_code == 204
    assert spooled(tmp_path) == 1
    holder.close()
    assert client.post("/analytics", json={"id": "after"}).status_code == 204
    hits = forwarded(app, ["first", "meanwhile", "after"])
    assert sorted(hit.id for hit in hits) == ["after", "first", "meanwhile"]


def test_an_error_of_a_call_on_a_backends_own_thread_is_raised_in_the_caller_and_never_printed(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A full spool (a blocking backend) refuses every request while it is full: gevent's hub
    # printed each refusal with its traceback when it was raised on the thread.
    call = OwnThread()

    def full() -> int:
        raise QueueFull("the spool is full")

    with pytest.raises(QueueFull, match="the spool is full"):
        call(full)
    gevent.sleep(0.1)  # the hub's next turns, where it printed the thread's error
    assert call(lambda: 7) == 7
    assert "Traceback" not in capfd.readouterr().err
