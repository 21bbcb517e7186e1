"""The Redis key names of a queue: one hash tag per partition.

Every Lua script of the queue touches the keys of exactly one partition, so giving a
partition's keys one hash tag (``hitcount:{q0}:stream``, ``hitcount:{q0}:hits``, ...) keeps
them in one Redis Cluster slot, where a script may use them together; different partitions
hash to different slots and so can live on different nodes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Partition:
    """The keys of one partition.

    ``stream`` holds the unacknowledged batches, ``hits`` the sum of their hit counts
    (kept beside the stream so that the backlog limit costs one ``GET``), ``dead``
    the dead-lettered batches, and ``group`` when the consumer group was first created:
    a stream found without its group while this key remains lost its batches.
    """

    index: int
    stream: str
    hits: str
    dead: str
    group: str


def partitions(prefix: str, count: int) -> tuple[Partition, ...]:
    """The keys of partitions ``0 .. count - 1`` under ``prefix``."""
    return tuple(
        Partition(index, *(f"{prefix}:{{q{index}}}:{name}" for name in ("stream", "hits", "dead", "group")))
        for index in range(count)
    )


def salt(prefix: str, day: int) -> str:
    """The key of the visitor salt of UTC day ``day``; every salt shares one hash tag, so that the
    script making one may delete an older one in the same slot."""
    return f"{prefix}:{{salt}}:{day}"
