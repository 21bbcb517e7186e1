"""Fixtures and helpers: the app over core's in-process ``memory`` queue and store, and a look inside them.

They live here rather than in ``conftest.py`` so that tests can import the helpers under a
module name no other package's tests use; ``conftest.py`` re-exports the fixtures.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import gevent
import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from hitcount.api_flask.app import TUNING, create_app
from hitcount.api_flask.settings import ApiSettings
from hitcount.api_flask.spool import Spool
from hitcount.api_flask.state import api_state
from hitcount.api_flask.tuning import Tuning
from hitcount.core import (
    Config,
    Counts,
    CountsCache,
    Health,
    Hit,
    HitStore,
    MemoryCache,
    Queue,
    Runtime,
    Setting,
    StoreUnavailable,
)
from hitcount.core.backends.memory import MemoryQueue, MemoryStore
from hitcount.core.wire import decode_batch

AppFactory = Callable[..., Flask]
T = TypeVar("T")


class DownStore(MemoryStore):
    """A store that cannot be reached: every read of counts fails as a backend's outage does."""

    def counts(self, id: str, now: int) -> Counts:
        raise StoreUnavailable("connection refused")

    def health(self) -> Health:
        return Health(False, "connection refused")


def _in(namespace: str, open_backend: Callable[[str], T]) -> Callable[[Config], T]:
    """A plugin's factory opening the backend ``open_backend`` opens in ``namespace``."""
    return lambda config: open_backend(namespace)


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[AppFactory]:
    """Build an app from settings over the memory queue and store, in a namespace no other test shares,
    optionally with extra queue, store and cache backends registered by name and extra settings
    ``registered`` (as their plugins would), and ``tuning`` for the API's fixed values.

    The extra backends are opened with the test's namespace (``factory(namespace)``: core's memory
    backends and their subclasses open so), and registered ``blocking=False``, called on the event
    loop like the ``memory`` ones most of them extend; ``blocking=True`` calls them on threads, like sqlite's.
    """
    apps: list[Flask] = []

    def make(
        *,
        queues: dict[str, Callable[[str], Queue]] | None = None,
        stores: dict[str, Callable[[str], HitStore]] | None = None,
        caches: dict[str, Callable[[str], CountsCache]] | None = None,
        registered: Sequence[Setting[Any]] = (),
        blocking: bool = False,
        tuning: Tuning = TUNING,
        **settings: str,
    ) -> Flask:
        # The test's own data directory, where the spool and any embedded backend live.
        environ = {
            "HITCOUNT_QUEUE": "memory",
            "HITCOUNT_STORE": "memory",
            "HITCOUNT_CACHE": "memory",
            "HITCOUNT_DATA_DIR": str(tmp_path),
        }
        runtime = Runtime.load({**environ, **settings})
        namespace = uuid.uuid4().hex
        registry = runtime.registry
        registry.add_settings(*registered)
        registry.queues["memory"] = dataclasses.replace(registry.queues["memory"], factory=_in(namespace, MemoryQueue))
        registry.stores["memory"] = dataclasses.replace(registry.stores["memory"], factory=_in(namespace, MemoryStore))
        registry.caches["memory"] = dataclasses.replace(registry.caches["memory"], factory=_in(namespace, MemoryCache))
        for name, queue in (queues or {}).items():
            registry.add_queue(name, _in(namespace, queue), blocking=blocking)
        for name, store in (stores or {}).items():
            registry.add_store(name, _in(namespace, store), blocking=blocking)
        for name, cache in (caches or {}).items():
            registry.add_cache(name, _in(namespace, cache), blocking=blocking)
        app = create_app(runtime, tuning=tuning)
        apps.append(app)
        return app

    yield make
    for app in apps:
        api_state(app).close()


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def rejected(reason: str) -> float:
    """Hits the rejection metric has counted for ``reason`` so far (in this process, every app alike)."""
    return REGISTRY.get_sample_value("hitcount_api_hits_rejected_total", {"reason": reason}) or 0.0


def dropped(reason: str) -> float:
    """Hits the dropped metric has counted for ``reason`` so far (in this process, every app alike)."""
    return REGISTRY.get_sample_value("hitcount_api_hits_dropped_total", {"reason": reason}) or 0.0


def queued_batches(app: Flask) -> list[list[Hit]]:
    """The hits of every write to the app's queue, in publish order (consumed, so call once per test)."""
    queue = api_state(app).backends.queue.get()
    return [decode_batch(delivery.payload) for delivery in queue.consume("test", 100_000, 0)]


def spooled(data_dir: Path) -> int:
    """Hits waiting in the spool under ``data_dir``."""
    spool = Spool.of(data_dir, ApiSettings.from_config(Config({})), Tuning())
    try:
        return spool.backlog().hits
    finally:
        spool.close()


def forwarded(app: Flask, ids: list[str], timeout: float = 10.0) -> list[Hit]:
    """The queued hits once ``ids`` (in any order) are all there: the spool forwards them in the background."""
    hits: list[Hit] = []
    deadline = time.monotonic() + timeout
    while sorted(hit.id for hit in hits) != sorted(ids) and time.monotonic() < deadline:
        gevent.sleep(0.05)  # the worker's forwarder greenlet runs meanwhile
        hits += queued_hits(app)
    return hits


def queued_hits(app: Flask) -> list[Hit]:
    """Every hit the app's queue holds, in publish order (consumed, so call once per test)."""
    return [hit for batch in queued_batches(app) for hit in batch]


class CountingQueue(MemoryQueue):
    """A memory queue that counts its publish calls (one per group commit)."""

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.publishes = 0

    def publish(self, payload: bytes, hits: int) -> None:
        self.publishes += 1
        super().publish(payload, hits)
