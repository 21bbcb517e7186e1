"""The queue, store and batcher of one worker process, opened on first use.

gunicorn forks its workers from a master that must hold no sockets or threads, so
nothing here is opened by :func:`~hitcount.api_flask.app.create_app`: the first request
that needs the queue or the store opens it, in the worker that serves it. A backend that
fails to open is tried again by the next request, so the API starts while its backends
are down and answers 503 until they come up.

Backends named in ``HITCOUNT_API_BLOCKING_BACKENDS`` (the embedded ``sqlite`` ones)
do blocking I/O that gevent cannot switch away from; their calls run in gevent's thread
pool so that the worker keeps serving. The others (redis-py, the Elasticsearch client)
are cooperative under gevent's monkey-patching and are called directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import gevent

from hitcount.api_flask.batcher import GroupCommit
from hitcount.api_flask.settings import ApiSettings
from hitcount.core import (
    Counts,
    Health,
    HitcountError,
    HitStore,
    Queue,
    QueueUnavailable,
    Runtime,
    StoreUnavailable,
)
from hitcount.core.settings import QUEUE, STORE

T = TypeVar("T")
log = logging.getLogger(__name__)


def call_directly(function: Callable[[], T]) -> T:
    return function()


def call_in_thread(function: Callable[[], T]) -> T:
    """Run ``function`` in gevent's thread pool; this greenlet waits, the others keep running."""
    result: T = gevent.get_hub().threadpool.apply(function)
    return result


def _open(opener: Callable[[], T], unavailable: type[HitcountError], kind: str) -> T:
    """Open a backend; whatever goes wrong (server down, a file locked by another process)
    means it cannot be used now, and the next request tries again."""
    try:
        return opener()
    except Exception as error:
        log.warning("cannot open the %s: %s", kind, error)
        raise unavailable(f"cannot open the {kind}: {error}") from error


class Backends:
    """What one worker's request handling talks to: the configured queue and store, and the batcher."""

    def __init__(self, runtime: Runtime, settings: ApiSettings) -> None:
        self._runtime = runtime
        self._settings = settings
        config = runtime.config
        # Resolve the backend names now: an unknown one fails the start, not the first request.
        runtime.registry.queue(config.get(QUEUE))
        runtime.registry.store(config.get(STORE))
        blocking = settings.blocking_backends
        self._queue_call = call_in_thread if config.get(QUEUE) in blocking else call_directly
        self._store_call = call_in_thread if config.get(STORE) in blocking else call_directly
        self._queue: Queue | None = None
        self._store: HitStore | None = None
        self._batcher: GroupCommit | None = None

    @property
    def queue(self) -> Queue:
        """The queue, opened now if need be; failing to open raises :class:`QueueUnavailable`."""
        if self._queue is None:
            self._queue = _open(self._runtime.open_queue, QueueUnavailable, "queue")
        return self._queue

    @property
    def store(self) -> HitStore:
        """The store, opened now if need be; failing to open raises :class:`StoreUnavailable`."""
        if self._store is None:
            self._store = _open(self._runtime.open_store, StoreUnavailable, "store")
        return self._store

    @property
    def batcher(self) -> GroupCommit:
        if self._batcher is None:
            self._batcher = GroupCommit(self._publish, self._settings.commit_interval, self._settings.enqueue_timeout)
        return self._batcher

    def _publish(self, payload: bytes, hits: int) -> None:
        queue = self.queue
        self._queue_call(lambda: queue.publish(payload, hits))

    def counts(self, id: str, now: int) -> Counts:
        """The counts of ``id`` at ``now`` from the store."""
        store = self.store
        return self._store_call(lambda: store.counts(id, now))

    def queue_health(self) -> Health:
        return self._health(lambda: self.queue, self._queue_call)

    def store_health(self) -> Health:
        return self._health(lambda: self.store, self._store_call)

    def _health(self, opened: Callable[[], Queue | HitStore], call: Callable[[Callable[[], Health]], Health]) -> Health:
        """A backend's health, within the enqueue timeout; failing to open or to answer is unhealthy."""
        timeout = self._settings.enqueue_timeout
        try:
            with gevent.Timeout(timeout):
                backend = opened()
                return call(backend.health)
        except gevent.Timeout:
            return Health(False, f"no answer within {timeout:g} s")
        except HitcountError as error:
            return Health(False, str(error))

    def close(self) -> None:
        """Stop the batcher and release the backends' connections (when a worker exits)."""
        if self._batcher is not None:
            self._batcher.close()
        for backend in (self._queue, self._store):
            if backend is not None:
                backend.close()
