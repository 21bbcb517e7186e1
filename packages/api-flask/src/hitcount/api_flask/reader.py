"""Reading counts: from the store when it answers in time, else the last counts kept, stale.

Every answer the store gives is kept in the counts cache (shared by the API processes:
``HITCOUNT_CACHE``) and in the worker's own small copy (the last fallback, when the
shared cache is down too). A read first looks there:

- counts younger than ``HITCOUNT_READ_MAX_AGE`` are answered as they are, so that a hot id
  read by thousands costs the store about one count per that age and per worker; the
  worker's own copy when it is that young, without asking the shared cache (a round trip
  that cost a cached read more than the rest of it);
- otherwise the store is asked, once per id and worker however many readers wait for it;
  when it fails or has not answered within ``HITCOUNT_READ_TIMEOUT``, the last counts kept
  are answered, stale, with their age; only with none kept does the read fail (503).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

import gevent
from gevent.event import AsyncResult

from hitcount.api_flask import metrics
from hitcount.api_flask.access import ReadId
from hitcount.core import CacheUnavailable, Counts, CountsCache, StoreError, StoreUnavailable, now_ns
from hitcount.core.cache import age

log = logging.getLogger(__name__)


class Sources(Protocol):
    """The worker's store and shared counts cache, opened when needed and called as their classes ask."""

    def counts(self, id: str, now: int) -> Counts: ...

    def cached(self, id: str) -> Counts | None: ...

    def keep(self, counts: Counts) -> None: ...


@dataclass(frozen=True)
class Reading:
    """Counts to answer, how old they are (seconds), and whether they are fresher than the max age."""

    counts: Counts
    age: float
    fresh: bool


class Reader:
    """Answers reads for one worker; see the module's docstring."""

    def __init__(self, sources: Sources, local: CountsCache, timeout: float, max_age: float) -> None:
        self._sources = sources
        self._local = local
        self._timeout = timeout
        self._max_age = max_age
        self._flights: dict[str, AsyncResult] = {}

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
                shared = self._sources.cached(id)
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
            flight = self._flights[id] = AsyncResult()
            gevent.spawn(self._count_for, id, flight)
        try:
            counts: Counts = flight.get(timeout=self._timeout)
        except gevent.Timeout:
            raise StoreUnavailable(f"no answer within HITCOUNT_READ_TIMEOUT={self._timeout:g}s") from None
        return counts

    def _count_for(self, id: str, flight: AsyncResult) -> None:
        """Count ``id``, wake its readers, keep the answer; readers stop waiting at their timeout, this goes on."""
        started = time.perf_counter()
        try:
            counts = self._sources.counts(id, now_ns())
        except Exception as error:  # the readers raise it: core's errors are answered, others are bugs
            flight.set_exception(error)
        else:
            metrics.STORE_READ_SECONDS.observe(time.perf_counter() - started)
            flight.set(counts)
            self._keep(counts)
        finally:
            self._flights.pop(id, None)

    def _keep(self, counts: Counts) -> None:
        self._local.put(counts)
        try:
            self._sources.keep(counts)
        except CacheUnavailable as error:
            log.debug("counts cache unavailable, kept in the worker only: %s", error)
