"""Core's embedded backends against the conformance suites they ship."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hitcount.core.backends.memory import MemoryQueue, MemoryStore
from hitcount.core.backends.sqlite_queue import SqliteQueue
from hitcount.core.backends.sqlite_store import SqliteStore
from hitcount.core.config import Config
from hitcount.core.queue import Queue
from hitcount.core.store import HitStore
from hitcount.core.testing.conformance import HitStoreConformance, QueueConformance, QueueFactory, StoreFactory


def _queue_factory(config: Config, backend: Callable[[Config], Queue]) -> Iterator[QueueFactory]:
    opened: list[Queue] = []

    def make(visibility_timeout: float = 30.0) -> Queue:
        opened.append(backend(config.with_overrides({"HITCOUNT_QUEUE_VISIBILITY_TIMEOUT": str(visibility_timeout)})))
        return opened[-1]

    yield make
    for queue in opened:
        queue.close()


def _store_factory(config: Config, backend: Callable[[Config], HitStore]) -> Iterator[StoreFactory]:
    opened: list[HitStore] = []

    def make() -> HitStore:
        opened.append(backend(config))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


class TestSqliteQueue(QueueConformance):
    @pytest.fixture
    def make_queue(self, sqlite_config: Config) -> Iterator[QueueFactory]:
        yield from _queue_factory(sqlite_config, SqliteQueue)


class TestMemoryQueue(QueueConformance):
    @pytest.fixture
    def make_queue(self, memory_config: Config) -> Iterator[QueueFactory]:
        yield from _queue_factory(memory_config, MemoryQueue)


class TestSqliteStore(HitStoreConformance):
    @pytest.fixture
    def make_store(self, sqlite_config: Config) -> Iterator[StoreFactory]:
        yield from _store_factory(sqlite_config, SqliteStore)


class TestMemoryStore(HitStoreConformance):
    @pytest.fixture
    def make_store(self, memory_config: Config) -> Iterator[StoreFactory]:
        yield from _store_factory(memory_config, MemoryStore)
