"""The count windows and the answer to "how many hits in each".

Each window is the half-open interval (now - length, now]: a hit exactly ``length``
before ``now`` is outside, one nanosecond later is inside, and one at ``now`` is in.
Every answer is computed for one explicit ``now`` so that all windows agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND


@dataclass(frozen=True, slots=True)
class Window:
    """A trailing interval of ``length`` nanoseconds, named by its ``reference``."""

    reference: str
    length: int

    def start(self, now: int) -> int:
        """The exclusive lower bound of this window at ``now``."""
        return now - self.length

    def contains(self, timestamp: int, now: int) -> bool:
        """Whether a hit at ``timestamp`` counts in this window at ``now``."""
        return now - self.length < timestamp <= now


# Longest first: the order of the answer in the product's spec.
WINDOWS: tuple[Window, ...] = (
    Window("3 days ago", 3 * 24 * 3600 * NS_PER_SECOND),
    Window("2 days ago", 2 * 24 * 3600 * NS_PER_SECOND),
    Window("1 day ago", 24 * 3600 * NS_PER_SECOND),
    Window("1 hour ago", 3600 * NS_PER_SECOND),
    Window("5 minutes ago", 5 * 60 * NS_PER_SECOND),
)
LONGEST = WINDOWS[0]


@dataclass(frozen=True, slots=True)
class Counts:
    """The counts of one id for every window in :data:`WINDOWS`, at one instant ``now``."""

    id: str
    now: int
    values: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.values) != len(WINDOWS):
            raise ValueError(f"expected {len(WINDOWS)} counts, got {len(self.values)}")

    @classmethod
    def of_timestamps(cls, id: str, now: int, timestamps: Iterable[int]) -> Counts:
        """Count raw timestamps; the reference semantics every store must agree with."""
        values = [0] * len(WINDOWS)
        for timestamp in timestamps:
            for index, window in enumerate(WINDOWS):
                if window.contains(timestamp, now):
                    values[index] += 1
        return cls(id, now, tuple(values))

    def by_reference(self) -> dict[str, int]:
        """``{"3 days ago": n, ...}``, longest window first."""
        return {window.reference: value for window, value in zip(WINDOWS, self.values, strict=True)}

    def to_json(self) -> dict[str, object]:
        """The body of ``GET /analytics/<id>`` as the spec gives it."""
        return {
            "id": self.id,
            "counts": [
                {"reference": window.reference, "count": value}
                for window, value in zip(WINDOWS, self.values, strict=True)
            ],
        }
