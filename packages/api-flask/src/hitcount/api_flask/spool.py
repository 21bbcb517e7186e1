"""The spool: Track's hits kept durably on this host while the queue cannot take them.

When the queue is unreachable or timing out (not when it is full: that is backpressure,
answered 503), a worker writes the group to the spool, an embedded sqlite queue under
``HITCOUNT_DATA_DIR/spool`` committed with ``synchronous=FULL``, and only then answers 204.
Every worker of the host forwards the spool to the queue once it takes batches again,
oldest first. A batch is leased while it is forwarded, so two workers never forward it at
once; it is deleted only after the queue took it, so a crash in between forwards it again,
which stores count once (they keep each hit, by id and uid, once). A spool left by a killed API is
forwarded by the next one that starts on the same data directory.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import gevent
from gevent.event import Event

from hitcount.api_flask import metrics
from hitcount.api_flask.settings import SPOOL_MAX_BYTES, SPOOL_MAX_HITS
from hitcount.core import DATA_DIR, Backlog, Config, Delivery, Health, HitcountError, QueueFull, SqliteQueue
from hitcount.core.config import format_duration

if TYPE_CHECKING:
    from hitcount.api_flask.backends import Caller

log = logging.getLogger(__name__)
# Longer than one publish can take (it is bounded by the queue's own timeout), so that a
# batch is never forwarded by two workers at once; short, so that one whose forwarder died
# goes out soon.
LEASE = 10.0
# How often an idle forwarder looks for spooled batches (another worker's, or a killed API's),
# and how long it waits after the queue refused one.
FORWARD_INTERVAL = 1.0


class Spool:
    """Hit batches waiting on this host for the queue; safe to share between threads and processes."""

    def __init__(self, config: Config) -> None:
        directory: Path = config.get(DATA_DIR) / "spool"
        self._batches = SqliteQueue(directory, visibility_timeout=LEASE, synchronous="FULL")
        self._max_hits = config.get(SPOOL_MAX_HITS)
        self._max_bytes = config.get(SPOOL_MAX_BYTES)

    def put(self, payload: bytes, hits: int) -> None:
        """Keep one batch, durably, or raise :class:`QueueFull` when it would take the spool past
        its maximum hits or bytes (a few large batches fill a disk long before a million hits)."""
        held, size = self._batches.held()
        if held + hits > self._max_hits:
            raise QueueFull(f"the spool holds HITCOUNT_SPOOL_MAX_HITS={self._max_hits} hits; cannot add {hits} more")
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


class Forwarder:
    """One worker's greenlet that moves spooled batches into the queue, oldest first.

    ``call`` runs a spool method the way the spool needs (in a thread: it blocks);
    ``publish`` is the queue's, called in the greenlet (queue clients are cooperative).
    """

    def __init__(self, spool: Callable[[], Spool], call: Caller, publish: Callable[[bytes, int], None]) -> None:
        self._spool = spool
        self._call = call
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
                spool = self._spool()
                metrics.observe_spool(self._call(spool.backlog))
            except HitcountError as error:
                log.warning("cannot read the spool's backlog: %s", error)

    def forward_one(self) -> bool:
        """Forward the oldest spooled batch; False when there was none. The queue's error propagates."""
        spool = self._spool()
        delivery = self._call(lambda: spool.take(self._name))
        if delivery is None:
            return False
        self._publish(delivery.payload, delivery.hits)
        self._call(lambda: spool.remove(delivery))
        metrics.SPOOL_FORWARDED.inc(delivery.hits)
        return True
