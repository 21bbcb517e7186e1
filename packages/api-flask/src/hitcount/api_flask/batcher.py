"""Group commit: the hits of concurrent requests go to the queue in one write.

Each worker has one batcher greenlet. A Track request adds its hits to the open group
and waits; the batcher gathers until the worker is idle or for ``interval`` seconds at
most, then encodes the group as one ``HitBatch`` and publishes it, and wakes every
waiting request with the outcome. While a write is in flight the next group fills, so
under load groups grow by themselves and the queue sees far fewer writes than requests.

A request is answered 204 only after the write holding its hits returned. When the
queue fails, every request of the group gets the queue's error (core's
``QueueUnavailable`` or another of :mod:`hitcount.core.errors`). A group not written
within ``timeout`` of its first request gets :class:`~hitcount.api_flask.errors.QueueTimeout`
for all its requests, and its hits are withdrawn if its write has not begun: one timer per
group, not per request (a gevent timeout per request is a timer and an exception object each), so a
request that joined a group late waits less than ``timeout``, never more.
Only hits whose write was already under way when the group gave up may reach the
queue after a 503: the queue's answer came too late to tell the client.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

import gevent
from gevent.event import Event

from hitcount.api_flask import metrics
from hitcount.api_flask.errors import QueueTimeout
from hitcount.core import Hit, HitcountError, QueueUnavailable
from hitcount.core.logs import RecurringLog
from hitcount.core.wire import encode_batch

log = logging.getLogger(__name__)
# One queue write holds at most this many hits, so that one payload stays small for any
# backend; a request's hits are never split across writes.
MAX_GROUP_HITS = 5000


class _Group:
    """The hits of the requests written together, one list per request, and the outcome they wait for."""

    __slots__ = ("deadline", "done", "error", "parts", "size")

    def __init__(self, timeout: float) -> None:
        self.parts: list[list[Hit]] = []
        self.size = 0
        self.done = Event()
        self.error: HitcountError | None = None
        self.deadline = gevent.get_hub().loop.timer(timeout)
        self.deadline.start(self._expire, timeout)

    def _expire(self, timeout: float) -> None:
        """Not written in time: withdraw the hits (if the write has not begun, they never will be written,
        so a client retrying after this 503 does not count them twice) and answer every request."""
        if not self.done.is_set():
            for part in self.parts:
                part.clear()
            self.error = QueueTimeout(f"no answer within {timeout:g} s")
            self.done.set()

    def finish(self, error: HitcountError | None) -> None:
        """The write is over: answer every request (unless the deadline did) and stop the timer."""
        self.deadline.close()
        if not self.done.is_set():
            self.error = error
            self.done.set()


class GroupCommit:
    """Collects hits from concurrent requests and publishes them with one ``publish`` call per group."""

    def __init__(self, publish: Callable[[bytes, int], None], interval: float, timeout: float) -> None:
        self._publish = publish
        self._interval = interval
        self._timeout = timeout
        self._pending: deque[_Group] = deque()
        self._wake = Event()
        self._greenlet: gevent.Greenlet | None = None
        self._closed = False
        # A queue refusing (full, down) refuses every group while it lasts: a few lines a minute.
        self._refusals = RecurringLog(log)

    def submit(self, hits: Sequence[Hit]) -> None:
        """Return once the queue holds ``hits``, or raise the queue's error or :class:`QueueTimeout`.

        Every request of a failed group raises the same error instance, as
        :meth:`concurrent.futures.Future.result` does.
        """
        if self._closed:
            raise QueueUnavailable("the worker is stopping")
        part = list(hits)
        group = self._pending[-1] if self._pending else None
        if group is None or group.done.is_set() or group.size + len(part) > MAX_GROUP_HITS:  # set: it expired
            group = _Group(self._timeout)
            self._pending.append(group)
            self._start()
        group.parts.append(part)
        group.size += len(part)
        group.done.wait()
        if group.error is not None:
            raise group.error

    def close(self) -> None:
        """Stop the batcher (the worker exits): the requests waiting and any that come later get
        :class:`QueueUnavailable` at once, those of a write under way included."""
        self._closed = True
        if self._greenlet is not None:
            self._greenlet.kill()
        stopping = QueueUnavailable("the worker is stopping")
        while self._pending:
            self._pending.popleft().finish(stopping)

    def _start(self) -> None:
        self._wake.set()
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._pending:
                self._gather()
                self._commit(self._pending.popleft())

    def _gather(self) -> None:
        """Let the oldest group grow until the worker has nothing else to do (every request
        that arrived is parsed and waiting), for at most ``interval``.

        Also after a write: the requests it answered send their next ones meanwhile, and
        the write goes out once the worker is idle, so its answer is read at once rather
        than after a round of request handling: under wrk, larger groups and quicker queue
        writes than writing the next group right away (BENCHMARKS.md).
        """
        if self._interval > 0:
            with gevent.Timeout(self._interval, False):
                gevent.idle()

    def _commit(self, group: _Group) -> None:
        try:
            error = self._write([hit for part in group.parts for hit in part])
        except BaseException:
            # Killed mid-write (the worker stopping): whether the queue holds the hits is unknown,
            # so no request of the group may be answered as if it did.
            group.finish(QueueUnavailable("the worker stopped before the queue answered"))
            raise
        group.finish(error)

    def _write(self, hits: list[Hit]) -> HitcountError | None:
        """Publish ``hits``; the queue's error, if it failed."""
        if not hits:
            return None
        try:
            payload = encode_batch(hits)
            started = time.perf_counter()
            self._publish(payload, len(hits))
            metrics.record_publish(len(hits), time.perf_counter() - started)
        except HitcountError as refused:
            self._refusals.note(type(refused).__name__, f"queue refused {len(hits)} hits: {refused}")
            return refused
        except Exception as failed:
            # A backend that let its client library's error through: still the queue failing.
            log.exception("queue write of %d hits failed", len(hits))
            return QueueUnavailable(f"unexpected {type(failed).__name__}, logged")
        return None
