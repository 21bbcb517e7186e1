"""The spool: Track's hits kept durably on this host while the queue cannot take them.

When the queue is unreachable or timing out (not when it is full: that is backpressure,
answered 503), a worker writes the group to the spool, an embedded sqlite queue under
``HITCOUNT_DATA_DIR/spool`` committed with ``synchronous=FULL``, and only then answers 204.
Every worker of the host forwards the spool to the queue once it takes batches again,
oldest first. A batch is leased while it is forwarded, so two workers never forward it at
once; it is deleted only after the queue took it, so a crash in between forwards it again,
which stores count once (they keep each hit, by id and uid, once). A spool left by a killed API is
forwarded by the next one that starts on the same data directory.

Where a group of hits goes is decided here, by the worker's :class:`Publisher`: the queue,
else the spool, with a breaker that sends groups straight to the spool for a while after the
queue failed, and the :class:`Forwarder` that moves them on once it takes them again.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import gevent
from gevent.event import Event

from hitcount.api_flask import metrics
from hitcount.api_flask.settings import ApiSettings
from hitcount.api_flask.tuning import Tuning
from hitcount.core import (
    Backlog,
    Delivery,
    Health,
    HitcountError,
    Queue,
    QueueFull,
    QueueUnavailable,
    SqliteQueue,
)
from hitcount.core.config import format_duration

if TYPE_CHECKING:
    from hitcount.api_flask.backends import Handle

T = TypeVar("T")

log = logging.getLogger(__name__)
# Longer than one publish can take (it is bounded by the queue's own timeout), so that a
# batch is never forwarded by two workers at once; short, so that one whose forwarder died
# goes out soon.
LEASE = 10.0
# How often an idle forwarder looks for spooled batches (another worker's, or a killed API's),
# and how long it waits after the queue refused one.
FORWARD_INTERVAL = 1.0


class Spool:
    """Hit batches waiting on this host for the queue, in ``directory``, at most ``max_bytes`` of them and
    ``max_hits``; safe to share between threads and processes."""

    def __init__(self, directory: Path, max_bytes: int, max_hits: int) -> None:
        self._batches = SqliteQueue(directory, visibility_timeout=LEASE, synchronous="FULL")
        self._max_hits = max_hits
        self._max_bytes = max_bytes

    @classmethod
    def of(cls, data_dir: Path, settings: ApiSettings, tuning: Tuning) -> Spool:
        """The spool of an API whose data directory is ``data_dir``: ``spool`` there, bounded by
        ``HITCOUNT_SPOOL_MAX_BYTES`` and the tuning's maximum hits."""
        return cls(data_dir / "spool", settings.spool_max_bytes, tuning.spool_max_hits)

    def put(self, payload: bytes, hits: int) -> None:
        """Keep one batch, durably, or raise :class:`QueueFull` when it would take the spool past
        its maximum hits or bytes (a few large batches fill a disk long before a million hits)."""
        held, size = self._batches.held()
        if held + hits > self._max_hits:
            raise QueueFull(f"the spool holds its maximum of {self._max_hits} hits; cannot add {hits} more")
        if size + len(payload) > self._max_bytes:
            raise QueueFull(
                f"the spool holds {size} bytes, near HITCOUNT_SPOOL_MAX_BYTES={self._max_bytes};"
                f" cannot add a batch of {len(payload)} more"
            )
        self._batches.publish(payload, hits)

    def take(self, forwarder: str) -> Delivery | None:
        """The oldest spooled batch no other forwarder holds, leased to ``forwarder``; None when there is none."""
        for delivery in self._batches.consume(forwarder, 1, 0):
            return delivery
        return None

    def remove(self, delivery: Delivery) -> None:
        """Delete a batch the queue took."""
        self._batches.ack([delivery])

    def backlog(self) -> Backlog:
        """The batches and hits spooled, and when the oldest of them was."""
        return self._batches.backlog()

    def health(self) -> Health:
        """Whether the spool can take hits: readable, and below its maximum hits and bytes."""
        try:
            backlog = self.backlog()
            _, size = self._batches.held()
        except HitcountError as error:
            return Health(False, str(error))
        detail = f"{backlog.hits} hits spooled ({size} bytes)"
        if backlog.oldest_published_at is not None:
            detail += f", the oldest {format_duration(time.time() - backlog.oldest_published_at)} ago"
        return Health(backlog.hits < self._max_hits and size < self._max_bytes, detail)

    def close(self) -> None:
        self._batches.close()


class Publisher:
    """Hands each group of hits to the queue; when it cannot take it (not when it is full), to the spool.

    After the queue failed, groups go straight to the spool for a while (``FORWARD_INTERVAL``),
    so that a hung queue costs one timeout a while rather than one per group; the forwarder
    tries the queue again meanwhile.
    """

    def __init__(self, queue: Handle[Queue], spool: Handle[Spool]) -> None:
        self._queue = queue
        self._spool = spool
        self._queue_down_until = 0.0
        self._forwarder = Forwarder(spool, self._to_queue)

    def start(self) -> None:
        """Forward what the spool holds now (hits a killed API left there), and from now on."""
        self._forwarder.start()

    def stop(self, timeout: float) -> None:
        """Stop forwarding (the worker exits), after the batch in hand, waiting up to ``timeout`` seconds."""
        self._forwarder.stop(timeout)

    def publish(self, payload: bytes, hits: int) -> None:
        """Keep one group: in the queue, else in the spool; the queue's refusal when it is full, or
        the spool's when it cannot take the group either, propagates."""
        if time.monotonic() >= self._queue_down_until:
            try:
                self._to_queue(payload, hits)
                return
            except QueueFull:
                raise
            except QueueUnavailable:
                self._queue_down_until = time.monotonic() + FORWARD_INTERVAL
        self._spool.call(lambda spool: spool.put(payload, hits))
        metrics.SPOOLED.inc(hits)
        self._forwarder.start()

    def _to_queue(self, payload: bytes, hits: int) -> None:
        """Publish to the queue; its failures (not a full queue's refusal) are logged as the queue down."""
        try:
            self._queue.call(lambda queue: queue.publish(payload, hits))
        except QueueFull:
            raise
        except QueueUnavailable as error:
            self._queue.down(f"publishing failed: {error}")
            raise
        self._queue.up()


class SpoolHandle(Protocol):
    """How the forwarder calls the spool: :class:`~hitcount.api_flask.backends.Handle`, on the spool's thread."""

    def call(self, method: Callable[[Spool], T]) -> T: ...


class Forwarder:
    """One worker's greenlet that moves spooled batches into the queue, oldest first, with ``publish``
    (the queue's, called in the greenlet: queue clients are cooperative or on a thread of their own)."""

    def __init__(self, spool: SpoolHandle, publish: Callable[[bytes, int], None]) -> None:
        self._spool = spool
        self._publish = publish
        self._name = f"{socket.gethostname()}-{os.getpid()}"
        self._wake = Event()
        self._stopping = False
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        """Look at the spool now (and every FORWARD_INTERVAL from now on)."""
        self._wake.set()
        if not self._stopping and (self._greenlet is None or self._greenlet.dead):
            self._greenlet = gevent.spawn(self._run)

    def stop(self, timeout: float) -> None:
        """Stop after the batch in hand (never amid a spool call: its thread holds the file's lock)."""
        self._stopping = True
        self._wake.set()
        if self._greenlet is not None:
            self._greenlet.join(timeout)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(FORWARD_INTERVAL)
            self._wake.clear()
            try:
                while not self._stopping and self.forward_one():
                    pass
            except HitcountError as error:
                log.debug("spooled hits wait for the queue: %s", error)  # the outage is logged
            try:
                metrics.observe_spool(self._spool.call(lambda spool: spool.backlog()))
            except HitcountError as error:
                log.warning("cannot read the spool's backlog: %s", error)

    def forward_one(self) -> bool:
        """Forward the oldest spooled batch; False when there was none. The queue's error propagates."""
        delivery = self._spool.call(lambda spool: spool.take(self._name))
        if delivery is None:
            return False
        self._publish(delivery.payload, delivery.hits)
        self._spool.call(lambda spool: spool.remove(delivery))
        metrics.SPOOL_FORWARDED.inc(delivery.hits)
        return True
