"""The queue, store, counts cache and spool of one worker process: opened, closed, and their health.

gunicorn forks its workers from a master that must hold no sockets or threads, so nothing here
is opened by :func:`~hitcount.api_flask.app.create_app`: each worker opens its backends once it
has loaded the app (:meth:`Backends.open`, from ``gunicorn.conf.py``'s ``post_worker_init``
through :meth:`~hitcount.api_flask.state.ApiState.open`). A backend that fails to open then is
tried again by the next request that needs it, so the API starts while its backends are down,
answers 503 and reports itself not ready until they come up.

Each is held as a :class:`Handle`, by whatever calls it: the publisher
(:class:`~hitcount.api_flask.spool.Publisher`) holds the queue's and the spool's, the reader
(:class:`~hitcount.api_flask.reader.Reader`) the store's and the cache's.

A backend registered as blocking (:attr:`hitcount.core.registry.Backend.blocking`: the
embedded ``sqlite`` ones, and any plugin's that does not say otherwise), and the spool, are
opened and called on a thread of their own (:class:`OwnThread`), so that the worker keeps
serving meanwhile. Those registered ``blocking=False`` (redis-py, the Elasticsearch client:
cooperative under gevent's monkey-patching; the ``memory`` ones) are called directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, cast

import gevent
from gevent.lock import Semaphore
from gevent.threadpool import ThreadPool

from hitcount.api_flask.settings import ApiSettings
from hitcount.api_flask.spool import Spool
from hitcount.api_flask.tuning import Tuning
from hitcount.core import (
    DATA_DIR,
    CacheUnavailable,
    Config,
    CountsCache,
    Health,
    HitcountError,
    HitStore,
    Queue,
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


class Handle(Generic[B]):
    """One backend of the worker: opened once even when greenlets ask for it together, and
    called on a thread of its own when it is ``blocking``, else directly (:meth:`call`)."""

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
        self._caller: Caller = OwnThread() if blocking else call_directly
        self._opening = Semaphore()
        self._backend: B | None = None

    def get(self) -> B:
        """The backend, opened now if need be; failing to open raises ``unavailable`` (and is logged)."""
        if self._backend is None:
            with self._opening:
                if self._backend is None:
                    self._backend = self._open()
        return self._backend

    def call(self, method: Callable[[B], T]) -> T:
        """``method(backend)``, the backend opened now if need be, called as the backend needs."""
        backend = self.get()
        return self._caller(lambda: method(backend))

    def _open(self) -> B:
        """Whatever goes wrong (server down, a file locked by another process) means the
        backend cannot be used now; the next request tries again."""
        try:
            backend: B = self._caller(lambda: self._factory(self._config))
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
                return self.call(lambda backend: backend.health())
        except gevent.Timeout:
            return Health(False, f"no answer within {timeout:g} s")
        except HitcountError as error:
            return Health(False, str(error))

    def close(self) -> None:
        if self._backend is not None:
            backend = self._backend
            self._caller(backend.close)


class Backends:
    """The configured queue, store and counts cache of one worker, and its spool."""

    def __init__(self, runtime: Runtime, settings: ApiSettings, tuning: Tuning) -> None:
        self._health_timeout = tuning.enqueue_timeout
        config = runtime.config
        # Resolve the backend names now: an unknown one fails the start, not the first request.
        # A backend down: a few lines a minute, however many requests meet it.
        outages = RecurringLog(log)
        queue = runtime.registry.queue(config.get(QUEUE))
        store = runtime.registry.store(config.get(STORE))
        cache = runtime.registry.cache(config.get(CACHE))
        self.queue = Handle(
            "queue",
            queue.factory,
            runtime,
            QueueUnavailable,
            blocking=queue.blocking,
            outages=outages,
            meanwhile="Track spools the hits meanwhile",
        )
        self.store = Handle(
            "store",
            store.factory,
            runtime,
            StoreUnavailable,
            blocking=store.blocking,
            outages=outages,
            meanwhile="reads answer counts kept, else 503",
        )
        self.cache = Handle(
            "counts cache",
            cache.factory,
            runtime,
            CacheUnavailable,
            blocking=cache.blocking,
            outages=outages,
            meanwhile="reads use each worker's own",
        )
        self.spool = Handle(
            "spool",
            lambda config: Spool.of(config.get(DATA_DIR), settings, tuning),
            runtime,
            QueueUnavailable,
            blocking=True,  # an sqlite file, fsynced on every put
            outages=outages,
            meanwhile="Track gets 503 with the queue down",
        )

    def open(self) -> None:
        """Open every backend now, as a worker does before it serves; one that cannot be opened is
        logged and left for the next request that needs it."""
        for backend in (self.queue, self.store, self.cache, self.spool):
            with suppress(HitcountError):  # logged; requests get 503 until it opens
                backend.get()

    def health(self) -> dict[str, Health]:
        """The health of the queue, the spool, the store and the counts cache, each within the health timeout."""
        timeout = self._health_timeout
        store = self.store.health(timeout)
        if store.ok and not self.store.get().keeps_totals:
            store = Health(True, f"{store.detail}; keeps no hourly counts, so a total counts only the hits it retains")
        return {
            "queue": self.queue.health(timeout),
            "spool": self.spool.health(timeout),
            "store": store,
            "cache": self.cache.health(timeout),
        }

    def close(self) -> None:
        """Release the backends' connections (when a worker exits)."""
        for backend in (self.queue, self.store, self.cache, self.spool):
            backend.close()
