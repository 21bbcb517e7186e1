"""The queue, store and batcher of one worker process.

gunicorn forks its workers from a master that must hold no sockets or threads, so
nothing here is opened by :func:`~hitcount.api_flask.app.create_app`: each worker opens
its queue and store once it has loaded the app (:meth:`Backends.open`, from
``gunicorn.conf.py``'s ``post_worker_init``). A backend that fails to open then is tried
again by the next request that needs it, so the API starts while its backends are down,
answers 503 and reports itself not ready until they come up.

A backend registered as blocking (:attr:`hitcount.core.registry.Backend.blocking`: the
embedded ``sqlite`` ones, and any plugin's that does not say otherwise), and the spool, are
opened and called on a thread of their own (:class:`OwnThread`), so that the worker keeps
serving meanwhile. Those registered ``blocking=False`` (redis-py, the Elasticsearch client:
cooperative under gevent's monkey-patching; the ``memory`` ones) are called directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, cast

import gevent
from gevent.lock import Semaphore
from gevent.threadpool import ThreadPool

from hitcount.api_flask import metrics
from hitcount.api_flask.batcher import GroupCommit
from hitcount.api_flask.settings import ApiSettings
from hitcount.api_flask.spool import FORWARD_INTERVAL, Forwarder, Spool
from hitcount.core import (
    CacheUnavailable,
    Config,
    Counts,
    CountsCache,
    Health,
    HitcountError,
    HitStore,
    Queue,
    QueueFull,
    QueueUnavailable,
    Runtime,
    StoreUnavailable,
)
from hitcount.core.logs import RecurringLog
from hitcount.core.settings import CACHE, QUEUE, STORE

T = TypeVar("T")
B = TypeVar("B", Queue, HitStore, CountsCache, Spool)
log = logging.getLogger(__name__)


def call_directly(function: Callable[[], T]) -> T:
    return function()


class OwnThread:
    """Runs a blocking backend's calls one after another on a thread of its own.

    The calling greenlet waits, the others keep running. One thread per backend, not the
    hub's pool: such a backend guards its connection with a lock, and gevent's patched
    locks do not wake a waiter in one native thread when another releases them, so two
    threads calling one backend can hang forever. A caller that gives up (a timeout)
    leaves its call running to its end before the next starts.

    A call's exception is caught on the thread and raised again in the caller: raised on the
    thread, gevent's hub would also print it with its traceback, for errors the API expects
    and answers (a full spool, a backend down), once per request.
    """

    def __init__(self) -> None:
        self._pool: ThreadPool | None = None

    def __call__(self, function: Callable[[], T], /) -> T:
        if self._pool is None:  # created in the worker that uses it, not before gunicorn forks
            self._pool = ThreadPool(1)
        outcome: _Outcome[T] = self._pool.apply(_Outcome.of, (function,))
        return outcome.result()


@dataclass(frozen=True)
class _Outcome(Generic[T]):
    """What a call returned, or the exception it raised."""

    value: T | None = None
    error: Exception | None = None

    @classmethod
    def of(cls, function: Callable[[], T]) -> _Outcome[T]:
        try:
            return cls(value=function())
        except Exception as error:
            return cls(error=error)

    def result(self) -> T:
        if self.error is not None:
            raise self.error
        return cast(T, self.value)


class Caller(Protocol):
    """Runs a backend call and returns its result: :func:`call_directly` or an :class:`OwnThread`."""

    def __call__(self, function: Callable[[], T], /) -> T: ...


class _Backend(Generic[B]):
    """One backend of the worker: opened once even when greenlets ask for it together, and
    called on a thread of its own when it is ``blocking``, else directly (:attr:`call`)."""

    def __init__(
        self,
        kind: str,
        factory: Callable[[Config], B],
        runtime: Runtime,
        unavailable: type[HitcountError],
        *,
        blocking: bool,
        outages: RecurringLog,
        meanwhile: str,
    ):
        self._kind = kind
        self._outages = outages
        self._meanwhile = meanwhile
        self._factory: Callable[[Config], B] = factory
        self._config = runtime.config
        self._secrets = runtime.secrets
        self._unavailable = unavailable
        self.call: Caller = OwnThread() if blocking else call_directly
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
            # A client library's words may quote the URL it was given, password and all.
            reason = self._secrets.mask(str(error))
            self.down(f"cannot open it: {reason}")
            raise self._unavailable(f"cannot open the {self._kind}: {reason}") from error
        return backend

    def down(self, what: str) -> None:
        """It failed, as ``what`` says: logged once when it starts and then once in a while."""
        self._outages.note(self._kind, f"{self._kind} down: {what}; {self._meanwhile}")

    def up(self) -> None:
        """It answered: if it was down, that it is back is logged."""
        self._outages.ended(self._kind, f"{self._kind} back")

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
            self.call(self._backend.close)


class Backends:
    """What one worker's request handling talks to: the configured queue, store and counts cache, and the batcher."""

    def __init__(self, runtime: Runtime, settings: ApiSettings) -> None:
        self._settings = settings
        config = runtime.config
        # Resolve the backend names now: an unknown one fails the start, not the first request.
        # A backend down: a few lines a minute, however many requests meet it.
        outages = RecurringLog(log)
        queue = runtime.registry.queue(config.get(QUEUE))
        store = runtime.registry.store(config.get(STORE))
        cache = runtime.registry.cache(config.get(CACHE))
        self._queue = _Backend(
            "queue",
            queue.factory,
            runtime,
            QueueUnavailable,
            blocking=queue.blocking,
            outages=outages,
            meanwhile="Track spools the hits meanwhile",
        )
        self._store = _Backend(
            "store",
            store.factory,
            runtime,
            StoreUnavailable,
            blocking=store.blocking,
            outages=outages,
            meanwhile="reads answer counts kept, else 503",
        )
        self._cache = _Backend(
            "counts cache",
            cache.factory,
            runtime,
            CacheUnavailable,
            blocking=cache.blocking,
            outages=outages,
            meanwhile="reads use each worker's own",
        )
        self._spool = _Backend(
            "spool",
            Spool,
            runtime,
            QueueUnavailable,
            blocking=True,  # an sqlite file, fsynced on every put
            outages=outages,
            meanwhile="Track gets 503 with the queue down",
        )
        self._forwarder = Forwarder(self._spool.get, self._spool.call, self._publish_to_queue)
        self._queue_down_until = 0.0
        self._batcher: GroupCommit | None = None

    def open(self) -> None:
        """Open the queue and the store now, as a worker does before it serves; one that cannot
        be opened is logged and left for the next request that needs it."""
        for backend in (self._queue, self._store, self._cache, self._spool):
            with suppress(HitcountError):  # logged; requests get 503 until it opens
                backend.get()
        self._forwarder.start()  # hits a killed API left in the spool go out now

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
        """Hand a group to the queue; when it cannot take it (not when it is full), to the spool.

        After the queue failed, groups go straight to the spool for a while, so that a
        hung queue costs one timeout a while rather than one per group.
        """
        if time.monotonic() >= self._queue_down_until:
            try:
                self._publish_to_queue(payload, hits)
                return
            except QueueFull:
                raise
            except QueueUnavailable:
                self._queue_down_until = time.monotonic() + FORWARD_INTERVAL
        spool = self._spool.get()
        self._spool.call(lambda: spool.put(payload, hits))
        metrics.SPOOLED.inc(hits)
        self._forwarder.start()

    def _publish_to_queue(self, payload: bytes, hits: int) -> None:
        """Publish to the queue; its failures (not a full queue's refusal) are logged as the queue down."""
        queue = self._queue.get()
        try:
            self._queue.call(lambda: queue.publish(payload, hits))
        except QueueFull:
            raise
        except QueueUnavailable as error:
            self._queue.down(f"publishing failed: {error}")
            raise
        self._queue.up()

    def counts(self, id: str, now: int) -> Counts:
        """The counts of ``id`` at ``now`` from the store; its outages are logged as the store down."""
        store = self._store.get()
        try:
            counts = self._store.call(lambda: store.counts(id, now))
        except StoreUnavailable as error:
            self._store.down(f"counting failed: {error}")
            raise
        self._store.up()
        return counts

    def cached(self, id: str) -> Counts | None:
        """The counts of ``id`` the shared counts cache keeps, if any."""
        cache = self._cache.get()
        return self._cache.call(lambda: cache.get(id))

    def keep(self, counts: Counts) -> None:
        """Keep the store's answer in the shared counts cache."""
        cache = self._cache.get()
        self._cache.call(lambda: cache.put(counts))

    def health(self) -> dict[str, Health]:
        """The health of the queue, the spool, the store and the counts cache, each within the enqueue timeout."""
        timeout = self._settings.enqueue_timeout
        return {
            "queue": self._queue.health(timeout),
            "spool": self._spool.health(timeout),
            "store": self._store.health(timeout),
            "cache": self._cache.health(timeout),
        }

    def close(self) -> None:
        """Stop the batcher and release the backends' connections (when a worker exits)."""
        if self._batcher is not None:
            self._batcher.close()
        self._forwarder.stop(self._settings.enqueue_timeout)
        self._queue.close()
        self._store.close()
        self._cache.close()
        self._spool.close()
