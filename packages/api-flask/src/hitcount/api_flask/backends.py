"""The queue, store and batcher of one worker process.

gunicorn forks its workers from a master that must hold no sockets or threads, so
nothing here is opened by :func:`~hitcount.api_flask.app.create_app`: each worker opens
its queue and store once it has loaded the app (:meth:`Backends.open`, from
``gunicorn.conf.py``'s ``post_worker_init``). A backend that fails to open then is tried
again by the next request that needs it, so the API starts while its backends are down,
answers 503 and reports itself not ready until they come up.

A backend whose class says it blocks (:attr:`hitcount.core.Queue.blocking`, as the
embedded ``sqlite`` ones do) is opened and called in gevent's thread pool, so that the
worker keeps serving meanwhile. The others (redis-py, the Elasticsearch client) are
cooperative under gevent's monkey-patching and are called directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Generic, Protocol, TypeVar

import gevent
from gevent.lock import Semaphore

from hitcount.api_flask.batcher import GroupCommit
from hitcount.api_flask.settings import ApiSettings
from hitcount.core import (
    CacheUnavailable,
    Config,
    Counts,
    CountsCache,
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
B = TypeVar("B", Queue, HitStore, CountsCache)
log = logging.getLogger(__name__)


def call_directly(function: Callable[[], T]) -> T:
    return function()


def call_in_thread(function: Callable[[], T]) -> T:
    """Run ``function`` in gevent's thread pool; this greenlet waits, the others keep running."""
    result: T = gevent.get_hub().threadpool.apply(function)
    return result


class Caller(Protocol):
    """Runs a backend call and returns its result: :func:`call_directly` or :func:`call_in_thread`."""

    def __call__(self, function: Callable[[], T], /) -> T: ...


def blocks(factory: Callable[[Config], Queue | HitStore | CountsCache]) -> bool:
    """Whether the backend ``factory`` opens blocks the process, as its class says.

    Plugins register their backend classes as factories; a factory that is not a class
    says nothing, and its backend is called directly.
    """
    return isinstance(factory, type) and issubclass(factory, (Queue, HitStore, CountsCache)) and factory.blocking


class _Backend(Generic[B]):
    """One backend of the worker: opened once even when greenlets ask for it together, and
    called the way its class asks (:attr:`call`)."""

    def __init__(self, kind: str, factory: Callable[[Config], B], config: Config, unavailable: type[HitcountError]):
        self._kind = kind
        self._factory: Callable[[Config], B] = factory
        self._config = config
        self._unavailable = unavailable
        self.call: Caller = call_in_thread if blocks(factory) else call_directly
        self._opening = Semaphore()
        self._backend: B | None = None

    def get(self) -> B:
        """The backend, opened now if need be; failing to open raises ``unavailable`` (and is logged)."""
        if self._backend is None:
            with self._opening:
                if self._backend is None:
                    self._backend = self._open()
        return self._backend

    def _open(self) -> B:
        """Whatever goes wrong (server down, a file locked by another process) means the
        backend cannot be used now; the next request tries again."""
        try:
            backend: B = self.call(lambda: self._factory(self._config))
        except Exception as error:
            log.warning("cannot open the %s: %s", self._kind, error)
            raise self._unavailable(f"cannot open the {self._kind}: {error}") from error
        return backend

    def health(self, timeout: float) -> Health:
        """Its health within ``timeout`` seconds; failing to open or to answer is unhealthy."""
        try:
            with gevent.Timeout(timeout):
                backend = self.get()
                return self.call(backend.health)
        except gevent.Timeout:
            return Health(False, f"no answer within {timeout:g} s")
        except HitcountError as error:
            return Health(False, str(error))

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()


class Backends:
    """What one worker's request handling talks to: the configured queue, store and counts cache, and the batcher."""

    def __init__(self, runtime: Runtime, settings: ApiSettings) -> None:
        self._settings = settings
        config = runtime.config
        # Resolve the backend names now: an unknown one fails the start, not the first request.
        self._queue = _Backend("queue", runtime.registry.queue(config.get(QUEUE)).factory, config, QueueUnavailable)
        self._store = _Backend("store", runtime.registry.store(config.get(STORE)).factory, config, StoreUnavailable)
        cache = runtime.registry.cache(runtime.cache_name()).factory
        self._cache = _Backend("counts cache", cache, config, CacheUnavailable)
        self._batcher: GroupCommit | None = None

    def open(self) -> None:
        """Open the queue and the store now, as a worker does before it serves; one that cannot
        be opened is logged and left for the next request that needs it."""
        for backend in (self._queue, self._store, self._cache):
            with suppress(HitcountError):  # logged; requests get 503 until it opens
                backend.get()

    @property
    def queue(self) -> Queue:
        """The queue, opened now if need be; failing to open raises core's ``QueueUnavailable``."""
        return self._queue.get()

    @property
    def store(self) -> HitStore:
        """The store, opened now if need be; failing to open raises core's ``StoreUnavailable``."""
        return self._store.get()

    @property
    def batcher(self) -> GroupCommit:
        if self._batcher is None:
            self._batcher = GroupCommit(self._publish, self._settings.commit_interval, self._settings.enqueue_timeout)
        return self._batcher

    def _publish(self, payload: bytes, hits: int) -> None:
        queue = self._queue.get()
        self._queue.call(lambda: queue.publish(payload, hits))

    def counts(self, id: str, now: int) -> Counts:
        """The counts of ``id`` at ``now`` from the store."""
        store = self._store.get()
        return self._store.call(lambda: store.counts(id, now))

    def cached(self, id: str) -> Counts | None:
        """The counts of ``id`` the shared counts cache keeps, if any."""
        cache = self._cache.get()
        return self._cache.call(lambda: cache.get(id))

    def keep(self, counts: Counts) -> None:
        """Keep the store's answer in the shared counts cache."""
        cache = self._cache.get()
        self._cache.call(lambda: cache.put(counts))

    def queue_health(self) -> Health:
        return self._queue.health(self._settings.enqueue_timeout)

    def store_health(self) -> Health:
        return self._store.health(self._settings.enqueue_timeout)

    def close(self) -> None:
        """Stop the batcher and release the backends' connections (when a worker exits)."""
        if self._batcher is not None:
            self._batcher.close()
        self._queue.close()
        self._store.close()
        self._cache.close()
