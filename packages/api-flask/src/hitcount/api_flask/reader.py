"""Reading counts: from the store when it answers in time, else the last counts kept, stale.

Every answer the store gives is kept in the counts cache (shared by the API processes:
``HITCOUNT_CACHE``) and in the worker's own small copy (the last fallback, when the
shared cache is down too). A read first looks there:

- counts younger than the read max age (2 s, :class:`~hitcount.api_flask.tuning.Tuning`) are
  answered as they are, so that a hot id read by thousands costs the store about one count
  per that age and per worker; the worker's own copy when it is that young, without asking
  the shared cache (a round trip that cost a cached read more than the rest of it);
- otherwise the store is asked, once per id and worker however many readers wait for it;
  when it fails or has not answered within the read timeout (1 s), the last counts kept
  are answered, stale, with their age; only with none kept does the read fail (503).

A worker runs at most 32 store counts at once (of different ids): a read of one more id answers
its stale counts, or 503 at once, rather than queueing behind counts of a store that hangs. A
count whose readers have all stopped waiting is dropped (its greenlet killed, which closes its
connection), so that it holds neither a slot nor a connection of the store client's pool once
nobody needs its answer.

Counts that are all zero (an id never hit, or any id a client makes up) are kept in the
worker's own copy only: in the shared cache they would let any client fill the cache's
Redis with one entry per id it invents.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import gevent
from gevent.event import AsyncResult

from hitcount.api_flask import metrics
from hitcount.api_flask.access import ReadId
from hitcount.api_flask.errors import StoreBusy
from hitcount.core import CacheUnavailable, Counts, CountsCache, HitStore, StoreError, StoreUnavailable, now_ns
from hitcount.core.cache import age

if TYPE_CHECKING:
    from hitcount.api_flask.backends import Handle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reading:
    """Counts to answer, how old they are (seconds), and whether they are fresher than the max age."""

    counts: Counts
    age: float
    fresh: bool


@dataclass(eq=False)
class _Flight:
    """One count of an id under way: its answer, the greenlet counting it and how many readers wait for it."""

    result: AsyncResult = field(default_factory=AsyncResult)
    greenlet: gevent.Greenlet | None = None
    waiting: int = 0


class Reader:
    """Answers reads for one worker from its ``store``, its shared ``cache`` and its own copy ``local``;
    see the module's docstring."""

    def __init__(
        self,
        store: Handle[HitStore],
        cache: Handle[CountsCache],
        local: CountsCache,
        *,
        timeout: float,
        max_age: float,
        concurrency: int,
    ) -> None:
        self._store = store
        self._cache = cache
        self._local = local
        self._timeout = timeout
        self._max_age = max_age
        self._concurrency = concurrency
        self._flights: dict[str, _Flight] = {}

    def read(self, id: ReadId) -> Reading:
        """The counts to answer for ``id`` (the id as read, whose access was decided on that form);
        raises :class:`StoreUnavailable` or :class:`StoreError` when none."""
        kept = self._kept(id)
        if kept is not None and age(kept) < self._max_age:
            metrics.READ_CACHE.labels("hit").inc()
            return Reading(kept, age(kept), fresh=True)
        metrics.READ_CACHE.labels("miss").inc()
        try:
            counts = self._counted_once(id)
        except (StoreUnavailable, StoreError) as error:
            if kept is None:
                raise
            log.debug("answering %r with counts %.0fs old: %s", id, age(kept), error)  # the outage is logged
            metrics.READ_STALE.inc()
            return Reading(kept, age(kept), fresh=False)
        return Reading(counts, age(counts), fresh=True)

    def _kept(self, id: str) -> Counts | None:
        """The worker's own counts of ``id`` while younger than the max age, else the newest of those and the
        shared cache's."""
        kept = self._local.get(id)
        if kept is not None and age(kept) < self._max_age:
            return kept
        try:
            with gevent.Timeout(self._timeout, CacheUnavailable(f"no answer within {self._timeout:g}s")):
                shared = self._cache.call(lambda cache: cache.get(id))
        except CacheUnavailable as error:
            log.debug("counts cache unavailable, using the worker's own: %s", error)
            return kept
        if shared is not None and (kept is None or shared.now > kept.now):
            return shared
        return kept

    def _counted_once(self, id: str) -> Counts:
        """The store's counts of ``id``; readers of an id already being counted wait for that count."""
        flight = self._flights.get(id)
        if flight is None:
            landed = self._local.get(id)
            if landed is not None and age(landed) < self._max_age:  # counted while this reader asked the cache
                return landed
            if len(self._flights) >= self._concurrency:
                raise StoreBusy(f"{self._concurrency} store reads under way, as many as a worker runs at once")
            flight = self._flights[id] = _Flight()
            flight.greenlet = gevent.spawn(self._count_for, id, flight)
        flight.waiting += 1
        try:
            counts: Counts = flight.result.get(timeout=self._timeout)
        except gevent.Timeout:
            raise StoreUnavailable(f"no answer within the read timeout of {self._timeout:g}s") from None
        finally:
            flight.waiting -= 1
            if not flight.waiting and not flight.result.ready():
                self._drop(id, flight)
        return counts

    def _drop(self, id: str, flight: _Flight) -> None:
        """Stop a count nobody waits for any longer."""
        if self._flights.get(id) is flight:
            del self._flights[id]
        if flight.greenlet is not None:
            flight.greenlet.kill(block=False)

    def _count_for(self, id: str, flight: _Flight) -> None:
        """Count ``id``, wake its readers, keep the answer."""
        started = time.perf_counter()
        try:
            counts = self._counted(id)
        except Exception as error:  # the readers raise it: core's errors are answered, others are bugs
            flight.result.set_exception(error)
        else:
            metrics.STORE_READ_SECONDS.observe(time.perf_counter() - started)
            flight.result.set(counts)
            self._keep(counts)
        finally:
            if self._flights.get(id) is flight:
                del self._flights[id]

    def _counted(self, id: str) -> Counts:
        """The store's counts of ``id`` now; its outages are logged as the store down."""
        now = now_ns()
        try:
            counts = self._store.call(lambda store: store.counts(id, now))
        except StoreUnavailable as error:
            self._store.down(f"counting failed: {error}")
            raise
        self._store.up()
        return counts

    def _keep(self, counts: Counts) -> None:
        self._local.put(counts)
        if not any(counts.values):
            return
        try:
            self._cache.call(lambda cache: cache.put(counts))
        except CacheUnavailable as error:
            log.debug("counts cache unavailable, kept in the worker only: %s", error)
