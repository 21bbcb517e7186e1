"""The most-hit ids of a window, or of all time: what ``GET /analytics?window=`` answers.

A store ranks ids by their count in one window at one ``now`` (:meth:`HitStore.top`), the
same count :meth:`HitStore.counts` gives that window, or by their total; ids with no hit
there are not ranked. Equal counts are ordered by id, so a ranking is one list, not one of
several, whichever store answers it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hitcount.core.windows import TOTAL, Window

# The most ids one ranking names.
MAX_LIMIT = 100


def ranked(counts: Iterable[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    """The ``limit`` ``(id, count)`` pairs of ``counts`` with the most hits, most first, then by id; none of 0."""
    return sorted(((id, count) for id, count in counts if count > 0), key=lambda pair: (-pair[1], pair[0]))[:limit]


@dataclass(frozen=True)
class Ranking:
    """The ids of ``prefix`` with the most hits in ``window`` (None: their totals) at ``now`` (ns), most first."""

    window: Window | None
    prefix: str
    now: int
    ids: tuple[tuple[str, int], ...]

    @property
    def reference(self) -> str:
        """The window's reference, or ``total``."""
        return TOTAL if self.window is None else self.window.reference

    def only(self, readable: Callable[[str], bool], limit: int) -> Ranking:
        """The first ``limit`` ids of this ranking that are ``readable``, the others left out unseen."""
        kept = [(id, count) for id, count in self.ids if readable(id)][:limit]
        return Ranking(self.window, self.prefix, self.now, tuple(kept))

    def to_json(self) -> dict[str, object]:
        """The body of ``GET /analytics?window=``: the window, the prefix, and each id with its count."""
        return {
            "window": self.reference,
            "prefix": self.prefix,
            "ids": [{"id": id, "count": count} for id, count in self.ids],
        }
