"""The indexer's rules, on core's real embedded queues and stores (memory and sqlite).

Store failures come from :class:`ScriptedStore`, a real store behind a script of failures.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from hitcount.core import (
    VISIBILITY_TIMEOUT,
    Config,
    Delivery,
    Health,
    Hit,
    HitsRefused,
    HitStore,
    Queue,
    QueueUnavailable,
    Runtime,
    StoreError,
    StoreUnavailable,
    now_ns,
)
from hitcount.core.backends.memory import MemoryQueue, MemoryStore
from hitcount.core.backends.sqlite_queue import SqliteQueue
from hitcount.core.rollups import seal_line
from hitcount.core.settings import RETENTION
from hitcount.core.windows import NS_PER_SECOND, Counts
from hitcount.core.wire import decode_batch, encode_batch
from hitcount.indexer import Indexer, IndexerSettings, metrics
from hitcount.indexer.settings import MAX_ATTEMPTS

# Fast enough that no test waits long on a retry, an empty queue or a lease.
FAST = {
    "HITCOUNT_QUEUE_VISIBILITY_TIMEOUT": "300ms",
}


def fast(config: Config, **values: Any) -> IndexerSettings:
    """The settings ``config`` gives, but waiting 50 ms for a batch, retrying after 10 ms to 50 ms and not
    lingering, so that no test waits long; ``values`` replace some (the rule between the linger and the
    test's short lease is for configurations, not for these)."""
    values = {"consume_wait": 0.05, "retry_base": 0.01, "retry_cap": 0.05, "linger": 0.0, **values}
    return IndexerSettings(config.get(RETENTION), config.get(MAX_ATTEMPTS), **values)


GARBAGE = b"\xff\xff\xff not a HitBatch"


class ScriptedStore(HitStore):
    """A real store behind a script: each write first raises the next scripted failure, if any.

    A write holding a hit of id ``refuse`` fails for good (:class:`StoreError`), the way a
    store rejects a request it cannot parse; hits of id ``refuse_alone`` are refused one by one
    (:class:`HitsRefused`, the others stored), the way a store rejects a document it cannot map;
    a write holding a hit of id ``crash`` raises ``ValueError``, a bug that this batch sets off.
    ``on_write`` sees every attempt before it happens.
    """

    def __init__(self, inner: HitStore) -> None:
        self.inner = inner
        self.failures: list[Exception] = []
        self.refuse: str | None = None
        self.refuse_alone: str | None = None
        self.crash: str | None = None
        self.attempts: list[list[Hit]] = []
        self.on_write: Callable[[Sequence[Hit]], None] = lambda hits: None
        self.seals: list[int] = []
        self.purges: list[int] = []
        self.purge_failures: list[Exception] = []

    def write(self, hits: Sequence[Hit]) -> None:
        self.attempts.append(list(hits))
        self.on_write(hits)
        if self.failures:
            raise self.failures.pop(0)
        if any(hit.id == self.refuse for hit in hits):
            raise StoreError(f"id {self.refuse!r} is refused")
        if any(hit.id == self.crash for hit in hits):
            raise ValueError(f"id {self.crash!r} sets off a bug")
        refused = {position: "cannot map it" for position, hit in enumerate(hits) if hit.id == self.refuse_alone}
        self.inner.write([hit for position, hit in enumerate(hits) if position not in refused])
        if refused:
            raise HitsRefused(f"{len(refused)} refused", refused)

    def counts(self, id: str, now: int) -> Counts:
        return self.inner.counts(id, now)

    def seal(self, before: int) -> int:
        self.seals.append(before)
        return self.inner.seal(before)

    def purge(self, before: int) -> int:
        self.purges.append(before)
        if self.purge_failures:
            raise self.purge_failures.pop(0)
        return self.inner.purge(before)

    def health(self) -> Health:
        return self.inner.health()


@pytest.fixture(params=["memory", "sqlite"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    """Core's embedded queue and store of one kind, private to the test."""
    return Config(
        {
            **FAST,
            "HITCOUNT_QUEUE": request.param,
            "HITCOUNT_STORE": request.param,
            "HITCOUNT_DATA_DIR": str(tmp_path),
        }
    )


@pytest.fixture
def runtime(config: Config) -> Runtime:
    """The runtime of ``config``, whose memory queue and store are in a namespace of the test's own."""
    runtime, namespace = Runtime.load(config.environ()), uuid.uuid4().hex
    queues, stores = runtime.registry.queues, runtime.registry.stores

    def queue(config: Config) -> Queue:
        return MemoryQueue(namespace, visibility_timeout=config.get(VISIBILITY_TIMEOUT))

    queues["memory"] = dataclasses.replace(queues["memory"], factory=queue)
    stores["memory"] = dataclasses.replace(stores["memory"], factory=lambda _: MemoryStore(namespace))
    return runtime


@pytest.fixture
def queue(runtime: Runtime) -> Iterator[Queue]:
    queue = runtime.open_queue()
    yield queue
    queue.close()


@pytest.fixture
def store(runtime: Runtime) -> Iterator[ScriptedStore]:
    inner = runtime.open_store()
    yield ScriptedStore(inner)
    inner.close()


@pytest.fixture
def indexer(queue: Queue, store: ScriptedStore, config: Config) -> Indexer:
    return Indexer(queue, store, "test-indexer", fast(config))


def publish(queue: Queue, id: str, hits: int) -> list[Hit]:
    """Publish one batch of ``hits`` hits of ``id`` happening now; return them."""
    batch = [Hit.now(id) for _ in range(hits)]
    queue.publish(encode_batch(batch), len(batch))
    return batch


def count(store: HitStore, id: str) -> int:
    """Hits of ``id`` in the last five minutes."""
    return store.counts(id, now_ns()).values[-1]


def test_batch_is_acknowledged_only_after_the_store_has_written_it(
    indexer: Indexer, queue: Queue, store: ScriptedStore
) -> None:
    waiting_during_write: list[int] = []
    store.on_write = lambda hits: waiting_during_write.append(queue.backlog().batches)
    publish(queue, "page", 3)
    assert indexer.step() == 1
    assert waiting_during_write == [1]
    assert queue.backlog().batches == 0
    assert count(store, "page") == 3


def test_batches_consumed_together_are_written_in_one_store_write(
    indexer: Indexer, queue: Queue, store: ScriptedStore
) -> None:
    published = [hit for size in (1, 2, 3, 4) for hit in publish(queue, "page", size)]
    assert indexer.step() == 4
    assert store.attempts == [published]
    assert queue.backlog().batches == 0


# A lease long enough for an indexer to linger up to half of it: far longer than any slowness of
# a loaded machine, so that a test waiting out a linger by mistake cannot pass.
LONG_LEASE = {"HITCOUNT_QUEUE_VISIBILITY_TIMEOUT": "60s"}


@pytest.fixture
def leased_queue(config: Config) -> Iterator[Queue]:
    """The test's queue, leasing what it delivers for LONG_LEASE."""
    queue = Runtime.load(config.with_overrides(LONG_LEASE).environ()).open_queue()
    yield queue
    queue.close()


def lingering(queue: Queue, store: ScriptedStore, config: Config, **settings: Any) -> Indexer:
    """An indexer on ``leased_queue`` that gathers its store writes for a while (``settings`` of IndexerSettings)."""
    return Indexer(queue, store, "test-indexer", fast(config, **settings))


def test_batches_published_while_the_indexer_lingers_go_into_the_same_store_write(
    leased_queue: Queue, store: ScriptedStore, config: Config
) -> None:
    queue = leased_queue
    # A linger long enough for the publish 30 ms in to land within it on a loaded machine.
    indexer = lingering(queue, store, config, linger=2.0)
    first = publish(queue, "page", 2)
    later = threading.Timer(0.03, lambda: publish(queue, "page", 3))
    later.start()
    started = time.monotonic()
    assert indexer.step() == 2
    later.join()
    assert time.monotonic() - started >= 2.0
    assert len(store.attempts) == 1
    assert store.attempts[0][:2] == first
    assert len(store.attempts[0]) == 5
    assert queue.backlog().batches == 0


def test_gathering_stops_once_the_write_holds_bulk_hits(
    leased_queue: Queue, store: ScriptedStore, config: Config
) -> None:
    queue = leased_queue
    indexer = lingering(queue, store, config, linger=30.0, bulk_hits=5, max_batches=1)
    batches = [publish(queue, "page", 3) for _ in range(4)]
    started = time.monotonic()
    assert indexer.step() == 2
    assert indexer.step() == 2
    assert time.monotonic() - started < 10, "it lingered (30 s) although the write was full"
    assert store.attempts == [batches[0] + batches[1], batches[2] + batches[3]]


@pytest.mark.parametrize("failure", [StoreUnavailable("store is down"), ConnectionResetError("unexpected")])
def test_failing_store_is_retried_without_acknowledging_until_written(
    indexer: Indexer, queue: Queue, store: ScriptedStore, failure: Exception
) -> None:
    store.failures = [failure] * 3
    waiting_during_write: list[int] = []
    store.on_write = lambda hits: waiting_during_write.append(queue.backlog().batches)
    publish(queue, "page", 5)
    retried = metrics.counted("hitcount_indexer_store_retries_total")
    assert indexer.step() == 1
    assert waiting_during_write == [1, 1, 1, 1]
    assert metrics.counted("hitcount_indexer_store_retries_total") - retried == 3
    assert queue.backlog().batches == 0
    assert count(store, "page") == 5


def test_stop_during_a_store_outage_leaves_the_batch_unacknowledged(
    indexer: Indexer, queue: Queue, store: ScriptedStore
) -> None:
    store.failures = [StoreUnavailable("store is down")] * 100
    store.on_write = lambda hits: indexer.stop()
    publish(queue, "page", 2)
    indexer.step()
    assert len(store.attempts) == 1
    assert queue.backlog().batches == 1
    assert queue.dead_letters() == []
    assert count(store, "page") == 0


def test_undecodable_batch_is_dead_lettered_and_the_rest_of_its_group_indexed(
    indexer: Indexer, queue: Queue, store: ScriptedStore
) -> None:
    publish(queue, "page", 2)
    queue.publish(GARBAGE, 4)
    publish(queue, "page", 3)
    dead = metrics.counted("hitcount_indexer_dead_letters_total")
    assert indexer.step() == 3
    [letter] = queue.dead_letters()
    assert (letter.payload, letter.hits) == (GARBAGE, 4)
    assert "undecodable" in letter.reason
    assert metrics.counted("hitcount_indexer_dead_letters_total") - dead == 1
    assert queue.backlog().batches == 0
    assert count(store, "page") == 5


def test_batch_the_store_refuses_is_dead_lettered_and_the_others_of_its_group_indexed(
    indexer: Indexer, queue: Queue, store: ScriptedStore
) -> None:
    store.refuse = "poison"
    publish(queue, "page", 2)
    refused = [Hit.now("page"), Hit.now("poison")]
    queue.publish(encode_batch(refused), 2)
    publish(queue, "page", 3)
    assert indexer.step() == 3
    [letter] = queue.dead_letters()
    assert decode_batch(letter.payload) == refused
    assert "store refused the batch" in letter.reason
    assert queue.backlog().batches == 0
    assert count(store, "page") == 5
    assert count(store, "poison") == 0


def test_hits_the_store_refuses_are_dead_lettered_alone_and_the_rest_of_their_batch_stored(
    indexer: Indexer, queue: Queue, store: ScriptedStore
) -> None:
    store.refuse_alone = "unmappable"
    publish(queue, "page", 2)
    mixed = [Hit.now("page"), Hit.now("unmappable"), Hit.now("page")]
    queue.publish(encode_batch(mixed), 3)
    indexed = metrics.counted("hitcount_indexer_hits_indexed_total")
    assert indexer.step() == 2
    [letter] = queue.dead_letters()
    assert decode_batch(letter.payload) == [mixed[1]]
    assert letter.hits == 1
    assert letter.reason == "store refused 1 of the batch's 3 hits (2 stored): cannot map it"
    assert queue.backlog().batches == 0
    assert count(store, "page") == 4
    assert metrics.counted("hitcount_indexer_hits_indexed_total") - indexed == 4


def attempt_until(indexer: Indexer, done: Callable[[], bool]) -> None:
    """Step the indexer until ``done()``, through as many visibility timeouts as it takes."""
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, "gave up waiting"
        indexer.step()


def test_batch_whose_write_keeps_failing_is_dead_lettered_on_its_last_attempt_while_the_rest_flows(
    queue: Queue, store: ScriptedStore, config: Config
) -> None:
    settings = fast(config.with_overrides({"HITCOUNT_INDEXER_MAX_ATTEMPTS": "3"}))
    indexer = Indexer(queue, store, "test-indexer", settings)
    store.crash = "poison"
    poison = publish(queue, "poison", 1)
    publish(queue, "page", 2)
    attempt_until(indexer, lambda: bool(queue.dead_letters()))
    publish(queue, "page", 3)
    attempt_until(indexer, lambda: queue.backlog().batches == 0)
    [letter] = queue.dead_letters()
    assert decode_batch(letter.payload) == poison
    assert letter.reason.startswith("store write failed on each of 3 deliveries, lastly: ValueError(")
    assert store.attempts.count(poison) == 3
    assert count(store, "page") == 5


def test_batch_delivered_more_than_max_attempts_is_dead_lettered_without_a_write(
    queue: Queue, store: ScriptedStore, config: Config
) -> None:
    """Indexers that died on a batch leave it unacknowledged: its attempts are the queue's, not a process's."""
    settings = fast(config.with_overrides({"HITCOUNT_INDEXER_MAX_ATTEMPTS": "2"}))
    indexer = Indexer(queue, store, "test-indexer", settings)
    publish(queue, "fatal", 1)
    for crashed in ("crashed-1", "crashed-2"):
        deadline = time.monotonic() + 5
        while not queue.consume(crashed, 10, 0.1):
            assert time.monotonic() < deadline
    attempt_until(indexer, lambda: bool(queue.dead_letters()))
    [letter] = queue.dead_letters()
    assert letter.reason.startswith("delivered 2 times without being acknowledged")
    assert store.attempts == []


def test_a_locked_sqlite_queue_at_acknowledgement_leaves_the_batch_to_be_indexed_again_harmlessly(
    tmp_path: Path, store: ScriptedStore, config: Config
) -> None:
    queue = SqliteQueue(tmp_path, visibility_timeout=config.get(VISIBILITY_TIMEOUT), busy_timeout=0.05)
    indexer = Indexer(queue, store, "test-indexer", fast(config))
    holder = sqlite3.connect(tmp_path / "queue.sqlite3", isolation_level=None)

    def lock(hits: Sequence[Hit]) -> None:
        holder.execute("begin immediate")  # another process takes the queue's lock

    store.on_write = lock
    publish(queue, "page", 3)
    try:
        assert indexer.step() == 1
    finally:
        holder.close()
    store.on_write = lambda hits: None
    attempt_until(indexer, lambda: queue.backlog().batches == 0)
    assert count(store, "page") == 3
    queue.close()


def test_redelivered_batch_is_counted_once(indexer: Indexer, queue: Queue, store: ScriptedStore) -> None:
    """An indexer that wrote a batch and died before acknowledging leaves it to be delivered again."""
    publish(queue, "page", 4)
    [delivery] = queue.consume("crashed-indexer", 10, 1.0)
    store.write(decode_batch(delivery.payload))
    redelivered: list[Delivery] = []
    deadline = time.monotonic() + 5
    while not redelivered and time.monotonic() < deadline:
        redelivered = queue.consume("test-indexer", 10, 0.1)
    assert [d.attempts for d in redelivered] == [2]
    indexer.index(redelivered)
    assert queue.backlog().batches == 0
    assert count(store, "page") == 4


def test_unavailable_queue_is_waited_out_with_backoff_and_consumed_again(config: Config, store: ScriptedStore) -> None:
    class RecoveringQueue(MemoryQueue):
        """The memory queue, unreachable for its first two consume calls."""

        outages = 2

        def consume(self, consumer: str, max_batches: int, wait: float) -> list[Delivery]:
            if self.outages:
                self.outages -= 1
                raise QueueUnavailable("queue is down")
            return super().consume(consumer, max_batches, wait)

    queue = RecoveringQueue(uuid.uuid4().hex)
    settings = fast(config)
    indexer = Indexer(queue, store, "test-indexer", settings)
    publish(queue, "page", 2)
    started = time.monotonic()
    assert [indexer.step() for _ in range(3)] == [0, 0, 1]
    # Two pauses of at least half the first two delays of the backoff.
    assert time.monotonic() - started >= settings.retry_base / 2 + settings.retry_base
    assert count(store, "page") == 2


def test_retention_purges_at_start_then_once_per_interval(queue: Queue, store: ScriptedStore, config: Config) -> None:
    settings = fast(config.with_overrides({"HITCOUNT_RETENTION": "4d"}))
    indexer = Indexer(queue, store, "test-indexer", settings)
    indexer.housekeeping()
    indexer.housekeeping()
    [cutoff] = store.purges
    assert abs(cutoff - (now_ns() - 4 * 86400 * NS_PER_SECOND)) < 5 * NS_PER_SECOND
    assert store.seals == [seal_line(now_ns())]  # before the purge, which deletes sealed hours only


def test_retention_purges_again_once_the_interval_passed(queue: Queue, store: ScriptedStore, config: Config) -> None:
    settings = fast(config, purge_interval=0.05)
    indexer = Indexer(queue, store, "test-indexer", settings)
    indexer.housekeeping()
    time.sleep(0.06)
    indexer.housekeeping()
    assert len(store.purges) == 2


def test_failed_purge_is_tried_again_after_the_retry_cap_not_the_interval(
    queue: Queue, store: ScriptedStore, config: Config
) -> None:
    store.purge_failures = [StoreUnavailable("store is down")]
    indexer = Indexer(queue, store, "test-indexer", fast(config))
    indexer.housekeeping()
    time.sleep(indexer.settings.retry_cap + 0.01)
    indexer.housekeeping()
    assert len(store.purges) == 2


def test_purge_removes_hits_older_than_the_retention_and_keeps_the_rest(indexer: Indexer, store: ScriptedStore) -> None:
    now = now_ns()
    store.write([Hit("page", now - 8 * 86400 * NS_PER_SECOND), Hit("page", now - 71 * 3600 * NS_PER_SECOND)])
    indexer.housekeeping()
    assert store.counts("page", now).values[0] == 1
    assert store.inner.purge(now - 7 * 86400 * NS_PER_SECOND) == 0
    assert store.counts("page", now).total == 2


def test_a_purge_logs_the_retention_in_words(
    indexer: Indexer, store: ScriptedStore, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hitcount.indexer"):
        indexer.housekeeping()
    assert "retention: removed 0 (hits or indices) older than 7 days; sealed 0 hourly counts" in caplog.messages


def test_backlog_gauges_show_waiting_batches_hits_and_the_ingestion_lag(
    queue: Queue, store: ScriptedStore, config: Config
) -> None:
    settings = fast(config, backlog_interval=0.0)
    indexer = Indexer(queue, store, "test-indexer", settings)
    sample = metrics.counted
    publish(queue, "page", 2)
    publish(queue, "page", 3)
    time.sleep(0.05)
    indexer.housekeeping()
    assert (sample("hitcount_indexer_backlog_batches"), sample("hitcount_indexer_backlog_hits")) == (2, 5)
    assert (sample("hitcount_indexer_ingestion_lag_seconds") or 0) >= 0.05
    indexer.step()
    indexer.housekeeping()
    assert sample("hitcount_indexer_backlog_batches") == 0
    assert sample("hitcount_indexer_backlog_hits") == 0
    assert sample("hitcount_indexer_ingestion_lag_seconds") == 0


def test_indexed_hits_and_batches_are_counted_once_acknowledged(indexer: Indexer, queue: Queue) -> None:
    publish(queue, "page", 2)
    publish(queue, "page", 3)
    hits, batches = (
        metrics.counted("hitcount_indexer_hits_indexed_total"),
        metrics.counted("hitcount_indexer_batches_total"),
    )
    indexer.step()
    assert metrics.counted("hitcount_indexer_hits_indexed_total") - hits == 5
    assert metrics.counted("hitcount_indexer_batches_total") - batches == 2


def test_run_returns_once_stopped(indexer: Indexer, queue: Queue, store: ScriptedStore) -> None:
    store.on_write = lambda hits: indexer.stop()
    publish(queue, "page", 2)
    indexer.run()
    assert queue.backlog().batches == 0
    assert count(store, "page") == 2
