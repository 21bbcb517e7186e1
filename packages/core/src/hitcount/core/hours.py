"""An id's hits per UTC hour over the last three days: what the dashboard draws as a chart.

:data:`HOURS` hours, oldest first, the last one now's own hour up to ``now``: the longest
window's span, whose hits every store still holds (retention keeps at least that much).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from hitcount.core.windows import LONGEST, NS_PER_HOUR, NS_PER_SECOND

HOURS = LONGEST.length // NS_PER_HOUR


def first_hour(now: int) -> int:
    """The start (ns) of the oldest hour of the chart at ``now``."""
    return (now // NS_PER_HOUR - HOURS + 1) * NS_PER_HOUR


@dataclass(frozen=True)
class Hours:
    """The hits of ``id`` in each of the :data:`HOURS` hours up to ``now``, oldest first."""

    id: str
    now: int
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.counts) != HOURS:
            raise ValueError(f"expected {HOURS} hourly counts, got {len(self.counts)}")

    @classmethod
    def of_timestamps(cls, id: str, now: int, timestamps: Iterable[int]) -> Hours:
        """Count raw timestamps: the reference semantics every store's hours agree with."""
        first = first_hour(now)
        counts = [0] * HOURS
        for timestamp in timestamps:
            if first <= timestamp <= now:
                counts[(timestamp - first) // NS_PER_HOUR] += 1
        return cls(id, now, tuple(counts))

    def to_json(self) -> dict[str, object]:
        """The body of ``GET /hours/<id>``: each hour's start (UTC, ISO 8601) and count, oldest first."""
        first = first_hour(self.now) // NS_PER_SECOND
        return {
            "id": self.id,
            "hours": [{"start": _iso(first + n * 3600), "count": count} for n, count in enumerate(self.counts)],
        }


def _iso(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
