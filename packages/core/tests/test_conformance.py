"""Core's embedded backends against the conformance suites they ship, opened as a user opens them."""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitcount.core import DATA_DIR, VISIBILITY_TIMEOUT, WINDOWS, Config, Counts, Runtime, now_ns
from hitcount.core.backends.memory import MemoryCache, MemoryQueue, MemoryStore
from hitcount.core.backends.sqlite_cache import SqliteCache
from hitcount.core.backends.sqlite_queue import SqliteQueue
from hitcount.core.backends.sqlite_store import SqliteStore
from hitcount.core.testing import CountsCacheConformance, HitStoreConformance, Outage, QueueConformance
from hitcount.core.testing.conformance import CacheFactory, QueueFactory, StoreFactory

# How long the backends of an outage test wait for the lock another connection holds: a fraction of
# the 5 s a write waits for it in production, so that each call of the test fails within a second.
OUTAGE_BUSY_TIMEOUT = 0.2


class SqliteOutage:
    """An SQLite file is unavailable when another process holds its write lock past the busy timeout.

    That is the same whether its holder is gone or hung, and readers go on reading (WAL),
    so the calls that only read may still answer; the file cannot be taken away otherwise
    from a connection that has it open (these tests may run as root, whom modes do not stop).
    """

    @pytest.fixture
    def outage(self, tmp_path: Path) -> Iterator[Outage]:
        holders: list[sqlite3.Connection] = []

        def lock() -> None:
            for path in sorted((tmp_path / "data").glob("*.sqlite3")):
                holders.append(sqlite3.connect(path, isolation_level=None))
                holders[-1].execute("begin immediate")

        reads = frozenset({"dead_letters", "backlog", "counts", "get"})
        yield Outage({}, stop=lock, hang=lock, still_answers=reads)
        for holder in holders:
            holder.close()

    @pytest.fixture
    def outage_runtime(self, runtime: Runtime) -> Runtime:
        """The runtime with the sqlite backends opened by constructors waiting OUTAGE_BUSY_TIMEOUT for a lock."""
        directory: Path = runtime.config.get(DATA_DIR)

        def queue(config: Config) -> SqliteQueue:
            visibility_timeout = config.get(VISIBILITY_TIMEOUT)
            return SqliteQueue(directory, visibility_timeout=visibility_timeout, busy_timeout=OUTAGE_BUSY_TIMEOUT)

        registry = runtime.registry
        waiting = dataclasses.replace(
            registry,
            queues={**registry.queues, "sqlite": dataclasses.replace(registry.queue("sqlite"), factory=queue)},
            stores={
                **registry.stores,
                "sqlite": dataclasses.replace(
                    registry.store("sqlite"), factory=lambda _: SqliteStore(directory, busy_timeout=OUTAGE_BUSY_TIMEOUT)
                ),
            },
            caches={
                **registry.caches,
                "sqlite": dataclasses.replace(
                    registry.cache("sqlite"), factory=lambda _: SqliteCache(directory, busy_timeout=OUTAGE_BUSY_TIMEOUT)
                ),
            },
        )
        return dataclasses.replace(runtime, registry=waiting)


class TestSqliteQueue(SqliteOutage, QueueConformance):
    backend = "sqlite"


class TestSqliteStore(SqliteOutage, HitStoreConformance):
    backend = "sqlite"


class TestSqliteCache(SqliteOutage, CountsCacheConformance):
    backend = "sqlite"


class MemoryIsolation:
    """Memory backends of one process share data by namespace: each test opens them in one of its own.
    They have no server to lose."""

    @pytest.fixture
    def namespace(self) -> str:
        return uuid.uuid4().hex

    @pytest.fixture
    def outage(self) -> Outage:
        pytest.skip("the memory backends live in the process: there is no server to lose")


class TestMemoryQueue(MemoryIsolation, QueueConformance):
    backend = "memory"

    @pytest.fixture
    def make_queue(self, namespace: str) -> QueueFactory:
        return lambda visibility_timeout=30.0: MemoryQueue(namespace, visibility_timeout=visibility_timeout)


class TestMemoryStore(MemoryIsolation, HitStoreConformance):
    backend = "memory"

    @pytest.fixture
    def make_store(self, namespace: str) -> StoreFactory:
        return lambda: MemoryStore(namespace)


class TestMemoryCache(MemoryIsolation, CountsCacheConformance):
    backend = "memory"

    @pytest.fixture
    def make_cache(self, namespace: str) -> CacheFactory:
        return lambda: MemoryCache(namespace)


def test_the_memory_cache_keeps_at_most_its_number_of_ids() -> None:
    cache, now = MemoryCache(uuid.uuid4().hex, max_ids=3), now_ns()
    for id in ("a", "b", "c", "d"):
        cache.put(Counts(id, now, (1,) * len(WINDOWS)))
    assert [cache.get(id) is not None for id in ("a", "b", "c", "d")] == [False, True, True, True]
