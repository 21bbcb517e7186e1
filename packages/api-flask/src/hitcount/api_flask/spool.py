"""The spool: Track's hits kept durably on this host while the queue cannot take them.

When the queue is unreachable or timing out (not when it is full: that is backpressure,
answered 503), a worker writes the group to the spool, an embedded sqlite queue under
``HITCOUNT_DATA_DIR/spool`` committed with ``synchronous=FULL``, and only then answers 204.
Every worker of the host forwards the spool to the queue once it takes batches again,
oldest first. A batch is leased while it is forwarded, so two workers never forward it at
once; it is deleted only after the queue took it, so a crash in between forwards it again,
which stores count once (they keep each hit uid once). A spool left by a killed API is
forwarded by the next one that starts on the same data directory.
"""

from __future__ import annotations

from pathlib import Path

from hitcount.api_flask.settings import SPOOL_MAX_HITS
from hitcount.core import DATA_DIR, Backlog, Config, Queue, QueueFull
from hitcount.core.backends.sqlite import SYNCHRONOUS
from hitcount.core.backends.sqlite_queue import SqliteQueue
from hitcount.core.queue import VISIBILITY_TIMEOUT

# Longer than one publish can take (it is bounded by the queue's own timeout), so that a
# batch is never forwarded by two workers at once; short, so that one whose forwarder died
# goes out soon.
LEASE = "10s"


class Spool:
    """Hit batches waiting on this host for the queue; safe to share between threads and processes."""

    blocking = True

    def __init__(self, config: Config) -> None:
        directory: Path = config.get(DATA_DIR) / "spool"
        self.directory = directory
        local = {DATA_DIR.name: str(directory), SYNCHRONOUS.name: "FULL", VISIBILITY_TIMEOUT.name: LEASE}
        self._batches = SqliteQueue(config.with_overrides(local))
        self._max_hits = config.get(SPOOL_MAX_HITS)

    def put(self, payload: bytes, hits: int) -> None:
        """Keep one batch, durably, or raise :class:`QueueFull` when the spool holds its maximum."""
        if self._batches.backlog().hits + hits > self._max_hits:
            raise QueueFull(f"the spool holds HITCOUNT_SPOOL_MAX_HITS={self._max_hits} hits; cannot add {hits} more")
        self._batches.publish(payload, hits)

    def forward(self, queue: Queue, consumer: str) -> int:
        """Move the oldest spooled batch into ``queue``; the hits moved, 0 when there was none.

        The queue's error propagates; the batch then waits out its lease and goes again.
        """
        for delivery in self._batches.consume(consumer, 1, 0):
            queue.publish(delivery.payload, delivery.hits)
            self._batches.ack([delivery])
            return delivery.hits
        return 0

    def backlog(self) -> Backlog:
        """The batches and hits spooled, and when the oldest of them was."""
        return self._batches.backlog()

    def close(self) -> None:
        self._batches.close()
