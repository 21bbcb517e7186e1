"""Reads through the counts cache: fresh answers kept for the read max age, stale ones when the store fails."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, TypeVar

import gevent
import gevent.event
import pytest
from api_testing import AppFactory
from flask import Flask
from prometheus_client import REGISTRY

from hitcount.api_flask.access import read_id
from hitcount.api_flask.backends import Handle
from hitcount.api_flask.errors import StoreBusy
from hitcount.api_flask.reader import Reader
from hitcount.api_flask.state import api_state
from hitcount.api_flask.tuning import Tuning
from hitcount.core import (
    WINDOWS,
    CacheUnavailable,
    Counts,
    CountsCache,
    Hit,
    HitcountError,
    HitStore,
    Runtime,
    StoreUnavailable,
    now_ns,
)
from hitcount.core.backends.memory import MemoryCache, MemoryStore
from hitcount.core.logs import RecurringLog

calls: list[str] = []
RUNTIME = Runtime.load({})


class CountingStore(MemoryStore):
    """Records every count the store is asked for."""

    def counts(self, id: str, now: int) -> Counts:
        calls.append(id)
        return super().counts(id, now)


class Outage:
    """Makes every store of a test fail (``down``) or hang (``hung``) from the moment it is set."""

    state = "up"


class FlakyStore(CountingStore):
    def counts(self, id: str, now: int) -> Counts:
        if Outage.state == "down":
            raise StoreUnavailable("connection refused")
        if Outage.state == "hung":
            gevent.sleep(30)
        return super().counts(id, now)


@pytest.fixture(autouse=True)
def reset() -> None:
    calls.clear()
    Outage.state = "up"


class DownCache(MemoryCache):
    def get(self, id: str) -> Counts | None:
        raise CacheUnavailable("cache down")

    def put(self, counts: Counts) -> None:
        raise CacheUnavailable("cache down")


def app_with(make_app: AppFactory, store: type[MemoryStore], **settings: Any) -> Flask:
    app = make_app(stores={"test": store}, caches={"down": DownCache}, HITCOUNT_STORE="test", **settings)
    api_state(app).backends.store.get().write([Hit("page", now_ns()), Hit("page", now_ns() - 1)])
    return app


def test_a_fresh_answer_says_how_long_it_may_be_kept(make_app: AppFactory) -> None:
    response = app_with(make_app, CountingStore, tuning=Tuning(read_max_age=5)).test_client().get("/analytics/page")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "max-age=5"
    assert response.headers["Age"] == "0"


def test_counts_younger_than_the_max_age_are_answered_without_the_store(make_app: AppFactory) -> None:
    client = app_with(make_app, CountingStore, tuning=Tuning(read_max_age=3600)).test_client()
    bodies = {client.get("/analytics/page").data for _ in range(50)}
    assert len(bodies) == 1
    assert calls == ["page"]


def test_with_a_max_age_of_zero_every_read_asks_the_store(make_app: AppFactory) -> None:
    client = app_with(make_app, CountingStore, tuning=Tuning(read_max_age=0)).test_client()
    for _ in range(3):
        client.get("/analytics/page")
    assert calls == ["page"] * 3


def test_when_the_store_fails_the_last_counts_are_answered_stale_with_their_age(make_app: AppFactory) -> None:
    client = app_with(make_app, FlakyStore, tuning=Tuning(read_max_age=0)).test_client()
    fresh = client.get("/analytics/page")
    Outage.state = "down"
    time.sleep(1.1)
    stale = client.get("/analytics/page")
    assert stale.status_code == 200
    assert stale.data == fresh.data
    assert int(stale.headers["Age"]) >= 1
    assert stale.headers["Cache-Control"] == "no-cache"
    assert client.get("/analytics/never-read").status_code == 503  # nothing kept: as before


def test_when_the_store_hangs_stale_counts_come_within_the_read_timeout(make_app: AppFactory) -> None:
    client = app_with(make_app, FlakyStore, tuning=Tuning(read_max_age=0, read_timeout=0.3)).test_client()
    fresh = client.get("/analytics/page")
    Outage.state = "hung"
    started = time.monotonic()
    stale = client.get("/analytics/page")
    # Bounds with a loaded machine's slack, far below the store's 30 s hang they are about.
    assert time.monotonic() - started < 10
    assert (stale.status_code, stale.data) == (200, fresh.data)
    started = time.monotonic()
    assert client.get("/analytics/never-read").status_code == 503
    assert time.monotonic() - started < 10


def test_with_the_shared_cache_down_the_workers_own_copy_serves(make_app: AppFactory) -> None:
    client = app_with(make_app, FlakyStore, HITCOUNT_CACHE="down", tuning=Tuning(read_max_age=3600)).test_client()
    fresh = client.get("/analytics/page")
    Outage.state = "down"
    assert (client.get("/analytics/page").status_code, client.get("/analytics/page").data) == (200, fresh.data)
    assert calls == ["page"]


class SlowStore(MemoryStore):
    """A store that takes 50 ms to count."""

    def counts(self, id: str, now: int) -> Counts:
        calls.append(id)
        gevent.sleep(0.05)
        return super().counts(id, now)


class EmptyCache(MemoryCache):
    """A shared cache that keeps nothing: the reader's own logic alone."""

    def get(self, id: str) -> Counts | None:
        return None

    def put(self, counts: Counts) -> None:
        pass


B = TypeVar("B", HitStore, CountsCache)


def held(backend: B) -> Handle[B]:
    """``backend`` as a worker holds it, called on the event loop."""
    return Handle(
        type(backend).__name__,
        lambda config: backend,
        RUNTIME,
        HitcountError,
        blocking=False,
        outages=RecurringLog(logging.getLogger(__name__)),
        meanwhile="",
    )


def reader_of(
    store: HitStore,
    cache: CountsCache | None = None,
    *,
    timeout: float = 1.0,
    max_age: float = 2.0,
    concurrency: int = 32,
) -> Reader:
    """A reader of ``store`` and ``cache`` (default: one keeping nothing), with a worker's own copy of its own."""
    local = MemoryCache(namespace=None)
    return Reader(
        held(store), held(cache or EmptyCache()), local, timeout=timeout, max_age=max_age, concurrency=concurrency
    )


def test_a_thousand_concurrent_reads_of_one_id_ask_the_store_once() -> None:
    reader = reader_of(SlowStore())
    readers = [gevent.spawn(reader.read, "hot") for _ in range(1000)]
    gevent.joinall(readers, timeout=10, raise_error=True)
    assert {greenlet.value.value.id for greenlet in readers} == {"hot"}
    assert calls == ["hot"]


def test_reads_of_different_ids_are_counted_apart() -> None:
    reader = reader_of(SlowStore())
    readers = [gevent.spawn(reader.read, id) for id in ("a", "b", "a", "b")]
    gevent.joinall(readers, timeout=10, raise_error=True)
    assert sorted(calls) == ["a", "b"]


class AskedCache(EmptyCache):
    """A shared cache that records each time it is asked."""

    def __init__(self) -> None:
        super().__init__(namespace=None)
        self.asked: list[str] = []

    def get(self, id: str) -> Counts | None:
        self.asked.append(id)
        return None


class SlowCache(EmptyCache):
    """A shared cache that takes 30 ms to answer that it has nothing."""

    def get(self, id: str) -> Counts | None:
        gevent.sleep(0.03)
        return None


def test_a_reader_still_asking_the_shared_cache_when_the_count_lands_takes_that_count() -> None:
    # Readers arrive every 5 ms: those asking the shared cache when the 50 ms count lands
    # would start a count of their own (5 store reads in 0.4 s of a hot id, in a CI run).
    reader = reader_of(SlowStore(), SlowCache())
    readers = []
    for _ in range(40):
        readers.append(gevent.spawn(reader.read, "hot"))
        gevent.sleep(0.005)
    gevent.joinall(readers, timeout=10, raise_error=True)
    assert calls == ["hot"]


def test_the_workers_own_fresh_copy_answers_without_asking_the_shared_cache() -> None:
    cache = AskedCache()
    reader = reader_of(SlowStore(), cache, max_age=0.3)
    for _ in range(3):
        reader.read(read_id("page"))
    assert (calls, cache.asked) == (["page"], ["page"])  # the first read asked both, the next ones neither
    gevent.sleep(0.3)  # the copy is now as old as the max age: the shared cache is asked again
    reader.read(read_id("page"))
    assert cache.asked == ["page", "page"]


def test_the_read_metrics_count_hits_misses_and_stale_answers(make_app: AppFactory) -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = [sample("hitcount_api_read_cache_total", result=result) for result in ("hit", "miss")]
    stale, reads = sample("hitcount_api_read_stale_total"), sample("hitcount_api_store_read_seconds_count")
    client = app_with(make_app, FlakyStore, tuning=Tuning(read_max_age=0)).test_client()
    client.get("/analytics/page")  # miss, counted by the store
    Outage.state = "down"
    client.get("/analytics/page")  # miss, answered stale
    assert [sample("hitcount_api_read_cache_total", result=result) for result in ("hit", "miss")] == [
        before[0],
        before[1] + 2,
    ]
    assert sample("hitcount_api_read_stale_total") == stale + 1
    assert sample("hitcount_api_store_read_seconds_count") == reads + 1
    assert "hitcount_api_read_stale_total" in client.get("/metrics").data.decode()


class HangingStore(MemoryStore):
    """A store whose counts hang until ``release`` is set, keeping count of those under way."""

    def __init__(self) -> None:
        super().__init__(uuid.uuid4().hex)
        self.release = gevent.event.Event()
        self.running = 0

    def counts(self, id: str, now: int) -> Counts:
        calls.append(id)
        self.running += 1
        try:
            self.release.wait()
            return super().counts(id, now)
        finally:
            self.running -= 1


class KeptCache(EmptyCache):
    """A shared cache that records the counts it is given to keep."""

    def __init__(self) -> None:
        super().__init__(namespace=None)
        self.kept: list[Counts] = []

    def put(self, counts: Counts) -> None:
        self.kept.append(counts)


def test_a_count_whose_readers_all_gave_up_is_dropped() -> None:
    store = HangingStore()
    reader = reader_of(store, timeout=0.2)
    readers = [gevent.spawn(reader.read, "a") for _ in range(3)]
    gevent.joinall(readers, timeout=10)
    assert all(isinstance(greenlet.exception, StoreUnavailable) for greenlet in readers)
    deadline = time.monotonic() + 10
    while store.running and time.monotonic() < deadline:
        gevent.sleep(0.01)
    assert store.running == 0


def test_once_a_hung_store_answers_a_new_id_is_not_stuck_behind_abandoned_counts() -> None:
    store = HangingStore()
    reader = reader_of(store, timeout=0.1, concurrency=4)
    for n in range(20):
        with pytest.raises(StoreUnavailable):
            reader.read(read_id(f"gone-{n}"))
    store.release.set()
    assert reader.read(read_id("new")).value.id == "new"


def test_beyond_the_read_concurrency_a_new_id_is_refused_at_once_without_the_store() -> None:
    reader = reader_of(HangingStore(), timeout=30.0, concurrency=2)
    waiting = [gevent.spawn(reader.read, id) for id in ("a", "b")]
    gevent.sleep(0.05)
    started = time.monotonic()
    with pytest.raises(StoreBusy, match="as many as a worker runs at once"):
        reader.read(read_id("c"))
    assert time.monotonic() - started < 5  # at once, not after the read timeout
    assert sorted(calls) == ["a", "b"]
    gevent.spawn(reader.read, "a")  # a reader of an id being counted joins that count
    gevent.sleep(0.05)
    assert sorted(calls) == ["a", "b"]
    gevent.killall(waiting)


def test_beyond_the_read_concurrency_the_last_counts_kept_are_answered_stale() -> None:
    local = MemoryCache(namespace=None)
    local.put(Counts("c", now_ns() - 60 * 10**9, (1,) * len(WINDOWS)))
    reader = Reader(held(HangingStore()), held(EmptyCache()), local, timeout=30.0, max_age=2.0, concurrency=1)
    waiting = gevent.spawn(reader.read, "a")
    gevent.sleep(0.05)
    reading = reader.read(read_id("c"))
    assert (reading.fresh, reading.value.values[0]) == (False, 1)
    assert calls == ["a"]
    waiting.kill()


def test_beyond_the_read_concurrency_a_read_is_a_503_with_retry_after(make_app: AppFactory) -> None:
    app = app_with(make_app, FlakyStore, tuning=Tuning(read_concurrency=1, read_timeout=20))
    Outage.state = "hung"
    waiting = gevent.spawn(app.test_client().get, "/analytics/page")
    gevent.sleep(0.1)
    started = time.monotonic()
    refused = app.test_client().get("/analytics/other")
    waiting.kill()
    assert time.monotonic() - started < 10  # at once, not after the read timeout
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"


def test_counts_of_an_id_never_hit_are_not_kept_in_the_shared_cache() -> None:
    store, cache = HangingStore(), KeptCache()
    store.release.set()
    store.write([Hit("hit", now_ns())])
    reader = reader_of(store, cache, timeout=5.0)
    for n in range(100):
        assert not any(reader.read(read_id(f"badge-{n}")).value.values)
    assert reader.read(read_id("hit")).value.values[0] == 1
    assert [counts.id for counts in cache.kept] == ["hit"]
    assert not any(reader.read(read_id("badge-0")).value.values)
    assert calls.count("badge-0") == 1  # the worker's own copy answers it again
