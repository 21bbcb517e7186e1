"""The count windows and the answer to "how many hits in each".

Each window is the half-open interval (now - length, now]: a hit exactly ``length``
before ``now`` is outside, one nanosecond later is inside, and one at ``now`` is in.
Every answer is computed for one explicit ``now`` so that all windows agree.

A window is named by its reference (``"1 hour ago"``, as answers give it) or its short
``name`` (``1h``, for URLs and attributes); :func:`window_named` takes either, and
:func:`window_or_total` :data:`TOTAL` too, every hit ever counted (:attr:`Counts.total`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hitcount.core.errors import UnknownWindow

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_HOUR = 3600 * NS_PER_SECOND
NS_PER_DAY = 24 * 3600 * NS_PER_SECOND
# Characters of an unknown window's name an error repeats: a name comes from a URL, of any length.
MAX_SHOWN = 40


@dataclass(frozen=True, slots=True)
class Window:
    """A trailing interval of ``length`` nanoseconds, named by its ``reference`` and its short ``name``."""

    reference: str
    length: int
    name: str

    def start(self, now: int) -> int:
        """The exclusive lower bound of this window at ``now``."""
        return now - self.length

    def contains(self, timestamp: int, now: int) -> bool:
        """Whether a hit at ``timestamp`` counts in this window at ``now``."""
        return now - self.length < timestamp <= now


# Longest first: the order of the answer in the product's spec.
WINDOWS: tuple[Window, ...] = (
    Window("3 days ago", 3 * 24 * 3600 * NS_PER_SECOND, "3d"),
    Window("2 days ago", 2 * 24 * 3600 * NS_PER_SECOND, "2d"),
    Window("1 day ago", 24 * 3600 * NS_PER_SECOND, "1d"),
    Window("1 hour ago", 3600 * NS_PER_SECOND, "1h"),
    Window("5 minutes ago", 5 * 60 * NS_PER_SECOND, "5m"),
)
LONGEST = WINDOWS[0]


def window_named(name: str, windows: Sequence[Window] = WINDOWS) -> Window:
    """The window of ``windows`` whose short name or reference is ``name``; :class:`UnknownWindow`, which lists
    the names there are, for any other."""
    for window in windows:
        if name in (window.name, window.reference):
            return window
    names = ", ".join(window.name for window in windows)
    shown = name if len(name) <= MAX_SHOWN else f"{name[:MAX_SHOWN]}..."
    raise UnknownWindow(f"window {shown!r} is not one of: {names} (or a reference, such as {windows[-1].reference!r})")


TOTAL = "total"


def window_or_total(name: str) -> Window | None:
    """The window named ``name`` (:func:`window_named`), or None for :data:`TOTAL`."""
    if name == TOTAL:
        return None
    try:
        return window_named(name)
    except UnknownWindow as error:
        raise UnknownWindow(f"{error}, or {TOTAL!r}") from None


@dataclass(frozen=True, slots=True)
class Counts:
    """The counts of one id for every window in :data:`WINDOWS`, at one instant ``now``.

    ``values`` are the hits in each window; ``visitors`` the distinct visitor keys among them
    (hits without a key count in ``values`` only), or None from a store that does not count visitors;
    ``total`` every hit of the id up to ``now`` ever stored, retention notwithstanding
    (:mod:`hitcount.core.rollups`); from a store that keeps no rollups, the hits of the id up to
    ``now`` it still retains, or None when it cannot tell them (a store written before totals).
    """

    id: str
    now: int
    values: tuple[int, ...]
    visitors: tuple[int, ...] | None = None
    total: int | None = None

    def __post_init__(self) -> None:
        if len(self.values) != len(WINDOWS):
            raise ValueError(f"expected {len(WINDOWS)} counts, got {len(self.values)}")
        if self.visitors is not None and len(self.visitors) != len(WINDOWS):
            raise ValueError(f"expected {len(WINDOWS)} visitor counts, got {len(self.visitors)}")

    @classmethod
    def of_timestamps(cls, id: str, now: int, timestamps: Iterable[int]) -> Counts:
        """Count raw timestamps, without visitors; the reference semantics every store's counts agree with."""
        values = [0] * len(WINDOWS)
        for timestamp in timestamps:
            for index, window in enumerate(WINDOWS):
                if window.contains(timestamp, now):
                    values[index] += 1
        return cls(id, now, tuple(values))

    @classmethod
    def of_hits(cls, id: str, now: int, hits: Iterable[tuple[int, int | None]]) -> Counts:
        """Count raw ``(timestamp, visitor key or None)`` pairs, visitors and the total too: the reference
        semantics of all three."""
        hits = list(hits)
        visitors = tuple(
            len({visitor for timestamp, visitor in hits if visitor is not None and window.contains(timestamp, now)})
            for window in WINDOWS
        )
        total = sum(1 for timestamp, _ in hits if timestamp <= now)
        return cls(id, now, cls.of_timestamps(id, now, (timestamp for timestamp, _ in hits)).values, visitors, total)

    def in_window(self, window: Window | None) -> int | None:
        """The hits in ``window``, or the total for None (None when the store keeps no total)."""
        return self.total if window is None else self.values[WINDOWS.index(window)]

    def by_reference(self) -> dict[str, int]:
        """``{"3 days ago": n, ...}``, longest window first."""
        return _by_reference(self.values)

    def visitors_by_reference(self) -> dict[str, int] | None:
        """``{"3 days ago": visitors, ...}``, longest window first; None when the store does not count visitors."""
        return None if self.visitors is None else _by_reference(self.visitors)

    def to_json(self) -> dict[str, object]:
        """The body of ``GET /analytics/<id>`` as the spec gives it, with each window's visitors when counted
        and the all-time total when kept."""
        windows = [{"reference": w.reference, "count": n} for w, n in zip(WINDOWS, self.values, strict=True)]
        if self.visitors is not None:
            for window, visitors in zip(windows, self.visitors, strict=True):
                window["visitors"] = visitors
        answer: dict[str, object] = {"id": self.id, "counts": windows}
        if self.total is not None:
            answer["total"] = self.total
        return answer


def _by_reference(values: tuple[int, ...]) -> dict[str, int]:
    """One value per window, by the window's reference, longest window first."""
    return {window.reference: value for window, value in zip(WINDOWS, values, strict=True)}
