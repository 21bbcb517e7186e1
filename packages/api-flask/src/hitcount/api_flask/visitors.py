"""The visitor key of each Track hit: the day's salt, kept by each worker, and the request it is taken from.

A hit's key is the keyed hash of the day's salt (:class:`~hitcount.core.visitors.VisitorHash`) with
the client's address (the forwarded one behind ``HITCOUNT_TRUSTED_PROXIES``) and its ``User-Agent``,
or with the ``visitor`` the hit names. Only the key leaves
the request: the address and the agent are read from the environ and dropped with it.

The salt comes from the queue (:meth:`~hitcount.core.Queue.salt`), which makes it once a day for
every worker of every host. A worker asks when it opens, then at the first request of each UTC
day, and fetches tomorrow's during the last minute of today so that no request waits at midnight.
A request never waits longer than the queue's enqueue timeout for it, and while the queue cannot
give it (down, or a queue that shares no salts) hits go on without a key, counted in
``hitcount_api_hits_without_visitor_total``: a hit is never refused for want of a visitor.
The salt is a secret: no log line, answer or setting shows it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gevent
from gevent.lock import Semaphore

from hitcount.api_flask.backends import Handle
from hitcount.api_flask.proxies import TrustedProxies
from hitcount.core import HitcountError, Queue
from hitcount.core.logs import RecurringLog
from hitcount.core.visitors import VisitorHash, day_of
from hitcount.core.windows import NS_PER_DAY

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

log = logging.getLogger(__name__)
# After the queue failed to give a salt, requests go without a key this long before one asks again (s).
RETRY_INTERVAL = 5.0
# How long before midnight a worker fetches tomorrow's salt (ns).
PREFETCH_NS = 60 * 1_000_000_000


class DailySalt:
    """The salt of each UTC day, from the queue behind ``queue``, kept by one worker.

    One fetch at a time: greenlets that need the same day's salt meanwhile wait for its answer.
    """

    def __init__(self, queue: Handle[Queue], timeout: float) -> None:
        self._queue = queue
        self._timeout = timeout
        # Days asked for, and their salt's hash (None: the queue shares none); only today's and tomorrow's kept.
        self._salts: dict[int, VisitorHash | None] = {}
        self._fetching = Semaphore()
        self._retry_at = 0.0
        self._failures = RecurringLog(log)

    def of(self, now: int) -> VisitorHash | None:
        """The hash of ``now``'s day's salt; None when the queue cannot give one now (asked again a while later)."""
        day = day_of(now)
        if day not in self._salts:
            return self.fetch(day)
        if now >= (day + 1) * NS_PER_DAY - PREFETCH_NS and day + 1 not in self._salts and not self._fetching.locked():
            gevent.spawn(self.fetch, day + 1)
        return self._salts[day]

    def fetch(self, day: int) -> VisitorHash | None:
        """Ask the queue for ``day``'s salt now, unless a failure a moment ago says to wait; None when it cannot."""
        with self._fetching:
            if day in self._salts:
                return self._salts[day]
            if time.monotonic() < self._retry_at:
                return None
            try:
                with gevent.Timeout(self._timeout, HitcountError(f"no answer within {self._timeout:g} s")):
                    salt = self._queue.call(lambda queue: queue.salt(day))
            except HitcountError as error:
                self._retry_at = time.monotonic() + RETRY_INTERVAL
                self._failures.note(
                    "salt",
                    f"cannot get the day's visitor salt from the queue: {error}; hits get no visitor key meanwhile",
                )
                return None
            self._failures.ended("salt", "got the day's visitor salt from the queue: hits get visitor keys again")
            if salt is None:
                log.warning("the queue shares no visitor salts: hits get no visitor key, and visitors are not counted")
            self._salts = {kept: value for kept, value in self._salts.items() if kept >= day - 1}
            self._salts[day] = hashed = None if salt is None else VisitorHash(salt)
            return hashed


class RequestVisitor:
    """The visitor keys of one request's hits: its client's, or those of the visitors its hits name."""

    __slots__ = ("_client", "_environ", "_proxies", "hash")

    def __init__(self, hash: VisitorHash | None, environ: WSGIEnvironment, proxies: TrustedProxies) -> None:
        self.hash = hash
        self._environ = environ
        self._proxies = proxies
        self._client: int | None = None

    def __call__(self, named: str | None) -> int | None:
        """The key of a hit naming ``named`` as its visitor, or of the request's client when None."""
        if self.hash is None:
            return None
        if named is not None:
            return self.hash.named(named)
        if self._client is None:
            agent: str = self._environ.get("HTTP_USER_AGENT", "")
            self._client = self.hash.client(self._proxies.client(self._environ), agent)
        return self._client


@dataclass(frozen=True)
class VisitorKeys:
    """How a worker keys the hits of a request: with the day's salt, or not at all (``HITCOUNT_COUNT_VISITORS=off``)."""

    salt: DailySalt | None
    proxies: TrustedProxies

    def of_request(self, environ: WSGIEnvironment, now: int) -> RequestVisitor:
        """The keys of a request received at ``now``."""
        return RequestVisitor(None if self.salt is None else self.salt.of(now), environ, self.proxies)

    def prepare(self, now: int) -> None:
        """Get the salt of ``now``'s day before the first request needs it (when a worker opens)."""
        if self.salt is not None:
            self.salt.of(now)

    def missing(self, visitor: RequestVisitor) -> bool:
        """Whether the request's hits go without the keys they should have (the salt could not be had)."""
        return self.salt is not None and visitor.hash is None
