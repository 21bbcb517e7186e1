"""Which partition a batch goes to: each in turn, and on a cluster the next one when a master refuses it."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable

from hitcount.core.errors import QueueUnavailable
from hitcount.queue_redis.keys import Partition

# How long a partition whose master refused a publish (on a cluster) is tried after the others.
REFUSED_PAUSE = 5.0


class Router:
    """Round-robin over the partitions, from a random start, shared by publishing and consuming.

    Each process starts its round-robin at random, so that API workers do not move in step.
    """

    def __init__(self, partitions: tuple[Partition, ...]) -> None:
        self.partitions = partitions
        self._turn = itertools.count(random.randrange(len(partitions)))
        # Partitions whose master refused a publish lately, by index: when to try them first again.
        self._refused_until: dict[int, float] = {}

    def round(self) -> list[Partition]:
        """Every partition, from the next one in turn."""
        first, count = next(self._turn), len(self.partitions)
        return [self.partitions[(first + step) % count] for step in range(count)]

    def place(self, add: Callable[[Partition], bool], failover: Callable[[], bool]) -> bool:
        """Call ``add`` on the partitions of the next :meth:`round` until one takes the batch (True);
        False when each was full (``add`` said False).

        When ``failover()`` says so (on a cluster; asked once a partition refused), a partition
        whose ``add`` raises :class:`QueueUnavailable` (its master died, or its replicas do not
        confirm) passes the batch to the next one, so that a master lost costs its share of the
        partitions, not the publishes that meet it; that partition is then tried last for
        :data:`REFUSED_PAUSE` seconds, so that its master's failure costs one publish in that time,
        not every publish that meets it. The last refusal is raised when no partition took the
        batch. Otherwise every partition is on the one server that failed: the refusal is raised.
        """
        now = time.monotonic()
        rotation = self.round()
        # Stable: the partitions that refused lately keep their order, after the others.
        rotation.sort(key=lambda partition: self._refused_until.get(partition.index, 0.0) > now)
        refused: QueueUnavailable | None = None
        for partition in rotation:
            try:
                if add(partition):
                    self._refused_until.pop(partition.index, None)
                    return True
            except QueueUnavailable as error:
                if not failover():
                    raise
                self._refused_until[partition.index] = time.monotonic() + REFUSED_PAUSE
                refused = error
        if refused is not None:
            raise refused
        return False
