"""The CountsCache interface: the last counts the store gave for each id, shared by readers.

The API keeps every answer of the store here, so that a hot id is counted by the store
only once per the API's read max age whatever the number of readers, and so that when
the store fails or is slow the last counts can still be served, stale, with their age.
A cache is no source of truth: losing it loses nothing but speed and stale answers.
"""

from __future__ import annotations

import abc
import json
import time
from typing import Any, Protocol

from hitcount.core.health import Health
from hitcount.core.windows import NS_PER_SECOND, WINDOWS, Counts

# How long the last counts of an id are kept to be served, stale, while the store cannot answer (a day),
# in seconds: every cache backend keeps them this long.
CACHE_TTL = 86_400.0


def encode_counts(counts: Counts) -> bytes:
    """Counts as cache backends keep them: JSON naming every window, so a change of windows is a miss."""
    entry: dict[str, object] = {"id": counts.id, "now": counts.now, "counts": counts.by_reference()}
    if counts.visitors is not None:
        entry["visitors"] = counts.visitors_by_reference()
    if counts.total is not None:
        entry["total"] = counts.total
    return json.dumps(entry).encode()


def decode_counts(data: bytes) -> Counts | None:
    """The counts :func:`encode_counts` wrote, or None for anything else (other windows, damage).

    An entry without ``visitors`` or ``total`` (from a store that does not keep them, or kept by an
    earlier version) decodes as counts without them.
    """
    try:
        entry = json.loads(data)
        visitors, total = entry.get("visitors"), entry.get("total")
        return Counts(
            str(entry["id"]),
            int(entry["now"]),
            _by_window(entry["counts"]),
            None if visitors is None else _by_window(visitors),
            None if total is None else int(total),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _by_window(by_reference: Any) -> tuple[int, ...]:
    """The values of a ``{reference: n}`` mapping in window order; ValueError unless it names every window."""
    if list(by_reference) != [window.reference for window in WINDOWS]:
        raise ValueError("the cached windows are not the current ones")
    return tuple(int(value) for value in by_reference.values())


class Stamped(Protocol):
    """An answer computed for one instant: :class:`Counts`, a ranking."""

    @property
    def now(self) -> int:
        """When it was computed (ns)."""


def age(answer: Stamped, now: float | None = None) -> float:
    """Seconds since ``answer`` was computed (never below zero), at ``now`` (default: the clock)."""
    return max(0.0, (time.time() if now is None else now) - answer.now / NS_PER_SECOND)


class CountsCache(abc.ABC):
    """The latest :class:`Counts` per id, kept for :data:`CACHE_TTL` (a day) after they were computed."""

    @abc.abstractmethod
    def get(self, id: str) -> Counts | None:
        """The counts last put for ``id``, or None when there are none younger than the TTL.

        Raises :class:`~hitcount.core.CacheUnavailable` when the backend cannot answer now.
        """

    @abc.abstractmethod
    def put(self, counts: Counts) -> None:
        """Keep ``counts`` as the latest of ``counts.id`` (the last put wins).

        Raises :class:`~hitcount.core.CacheUnavailable` when the backend cannot take them now.
        """

    @abc.abstractmethod
    def health(self) -> Health:
        """Whether the cache can answer now; never raises."""

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release connections; the default has nothing to release."""
