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

Rankings (``GET /analytics?window=``) and hours (``GET /hours/<id>``) are read the same way,
under the same bound, and kept in the worker alone: they are read far less often than
counts, by dashboards.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar, cast

import gevent
from gevent.event import AsyncResult

from hitcount.api_flask import metrics
from hitcount.api_flask.access import ReadId
from hitcount.api_flask.errors import StoreBusy, Unsupported
from hitcount.core import CacheUnavailable, Counts, CountsCache, HitStore, StoreError, StoreUnavailable, Window, now_ns
from hitcount.core.cache import age
from hitcount.core.hours import Hours
from hitcount.core.ranking import Ranking
from hitcount.core.windows import TOTAL

if TYPE_CHECKING:
    from hitcount.api_flask.backends import Handle

log = logging.getLogger(__name__)

# Rankings and hours a worker keeps, the least recently read dropped first: ids and prefixes are any text
# a client sends.
KEPT_HERE = 256

T = TypeVar("T")
V = TypeVar("V", Counts, Ranking, Hours)
W = TypeVar("W", Ranking, Hours)


@dataclass(frozen=True)
class Reading(Generic[V]):
    """Counts, a ranking or hours to answer, how old they are (seconds), and whether they are fresher than the
    max age."""

    value: V
    age: float
    fresh: bool


@dataclass(eq=False)
class _Flight:
    """One store read under way: its answer, the greenlet reading it and how many readers wait for it."""

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
        # By id for counts, by what was read for rankings and hours (:meth:`_read_here`).
        self._flights: dict[Hashable, _Flight] = {}
        # Rankings and hours, by what was read: kept in the worker alone.
        self._here: OrderedDict[Hashable, Ranking | Hours] = OrderedDict()

    def read(self, id: ReadId) -> Reading[Counts]:
        """The counts to answer for ``id`` (the id as read, whose access was decided on that form);
        raises :class:`StoreUnavailable` or :class:`StoreError` when none."""
        kept = self._kept(id)
        if kept is not None and age(kept) < self._max_age:
            metrics.READ_CACHE.labels("hit").inc()
            return Reading(kept, age(kept), fresh=True)
        metrics.READ_CACHE.labels("miss").inc()
        if id not in self._flights:
            landed = self._local.get(id)
            if landed is not None and age(landed) < self._max_age:  # counted while this reader asked the cache
                return Reading(landed, age(landed), fresh=True)
        return self._fresh_or_kept(id, kept, lambda: self._counted(id), self._keep)

    def rank(self, window: Window | None, prefix: str, size: int) -> Reading[Ranking]:
        """The ``size`` ids of ``prefix`` with the most hits in ``window`` (None: the largest totals)."""
        key = ("ranking", TOTAL if window is None else window.name, prefix, size)
        return self._read_here(
            key, lambda now, store: Ranking(window, prefix, now, tuple(store.top(window, now, size, prefix)))
        )

    def hours(self, id: ReadId) -> Reading[Hours]:
        """The hits of ``id`` in each hour of the last three days."""
        return self._read_here(("hours", id), lambda now, store: store.hours(id, now))

    def _read_here(self, key: tuple[Hashable, ...], read: Callable[[int, HitStore], W]) -> Reading[W]:
        """What ``read`` answers of the store now, kept in the worker alone (:data:`KEPT_HERE` answers) and
        answered like counts: fresh, or stale when the store fails; :class:`StoreUnavailable`,
        :class:`StoreError`, or :class:`Unsupported` for a store that cannot answer it, when none."""
        kept = cast("W | None", self._here.get(key))
        if kept is not None and age(kept) < self._max_age:
            return Reading(kept, age(kept), fresh=True)

        def from_store() -> W:
            now = now_ns()
            try:
                return self._from_store(f"reading {key[0]}", lambda store: read(now, store))
            except NotImplementedError as error:
                raise Unsupported(str(error)) from None

        def keep(answer: W) -> None:
            self._here[key] = answer
            self._here.move_to_end(key)
            while len(self._here) > KEPT_HERE:
                self._here.popitem(last=False)

        return self._fresh_or_kept(key, kept, from_store, keep)

    def _fresh_or_kept(
        self, key: Hashable, kept: V | None, read: Callable[[], V], keep: Callable[[V], None]
    ) -> Reading[V]:
        """What ``read`` answers (once per ``key`` however many wait, ``keep`` then given it), else ``kept``,
        stale, when the store fails; its error when nothing is kept."""
        try:
            value = self._once(key, read, keep)
        except (StoreUnavailable, StoreError) as error:
            if kept is None:
                raise
            log.debug("answering %r with a reading %.0fs old: %s", key, age(kept), error)  # the outage is logged
            metrics.READ_STALE.inc()
            return Reading(kept, age(kept), fresh=False)
        return Reading(value, age(value), fresh=True)

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

    def _once(self, key: Hashable, read: Callable[[], T], keep: Callable[[T], None]) -> T:
        """What ``read`` answers; readers of a key already being read wait for that read."""
        flight = self._flights.get(key)
        if flight is None:
            if len(self._flights) >= self._concurrency:
                raise StoreBusy(f"{self._concurrency} store reads under way, as many as a worker runs at once")
            flight = self._flights[key] = _Flight()
            flight.greenlet = gevent.spawn(self._read_for, key, flight, read, keep)
        flight.waiting += 1
        try:
            value: T = flight.result.get(timeout=self._timeout)
        except gevent.Timeout:
            raise StoreUnavailable(f"no answer within the read timeout of {self._timeout:g}s") from None
        finally:
            flight.waiting -= 1
            if not flight.waiting and not flight.result.ready():
                self._drop(key, flight)
        return value

    def _drop(self, key: Hashable, flight: _Flight) -> None:
        """Stop a read nobody waits for any longer."""
        if self._flights.get(key) is flight:
            del self._flights[key]
        if flight.greenlet is not None:
            flight.greenlet.kill(block=False)

    def _read_for(self, key: Hashable, flight: _Flight, read: Callable[[], T], keep: Callable[[T], None]) -> None:
        """Read, wake the readers, keep the answer."""
        started = time.perf_counter()
        try:
            value = read()
        except Exception as error:  # the readers raise it: core's errors are answered, others are bugs
            flight.result.set_exception(error)
        else:
            metrics.STORE_READ_SECONDS.observe(time.perf_counter() - started)
            flight.result.set(value)
            keep(value)
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]

    def _from_store(self, what: str, read: Callable[[HitStore], T]) -> T:
        """What ``read`` answers of the store; its outages are logged as the store down."""
        try:
            value = self._store.call(read)
        except StoreUnavailable as error:
            self._store.down(f"{what} failed: {error}")
            raise
        self._store.up()
        return value

    def _counted(self, id: str) -> Counts:
        """The store's counts of ``id`` now."""
        now = now_ns()
        return self._from_store("counting", lambda store: store.counts(id, now))

    def _keep(self, counts: Counts) -> None:
        self._local.put(counts)
        if not any(counts.values):
            return
        try:
            self._cache.call(lambda cache: cache.put(counts))
        except CacheUnavailable as error:
            log.debug("counts cache unavailable, kept in the worker only: %s", error)
