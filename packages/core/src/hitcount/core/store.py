"""The HitStore interface: where hits are kept and counted."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from hitcount.core.health import Health
from hitcount.core.hit import Hit
from hitcount.core.hours import Hours
from hitcount.core.windows import Counts, Window


class HitStore(abc.ABC):
    """Durable storage of hits that answers window counts.

    ``write`` is idempotent by :attr:`Hit.id` and :attr:`Hit.uid` together: writing a hit
    that is already stored (a redelivered batch, or a duplicate inside one batch) changes no
    count, while a uid that a client gave to hits of several ids counts once for each id.
    """

    @abc.abstractmethod
    def write(self, hits: Sequence[Hit]) -> None:
        """Store a batch; return only when all of it is durable.

        Raises :class:`~hitcount.core.StoreUnavailable` when a retry may succeed and
        :class:`~hitcount.core.StoreError` when it will not; either way the caller must
        assume none of the batch was stored (re-writing is harmless), except after
        :class:`~hitcount.core.HitsRefused`, which says that all but the hits it names are stored.
        """

    @abc.abstractmethod
    def counts(self, id: str, now: int) -> Counts:
        """The counts of ``id`` in every window of :data:`~hitcount.core.WINDOWS` at ``now`` (ns)."""

    @abc.abstractmethod
    def purge(self, before: int) -> int:
        """Delete hits older than ``before`` (ns), as retention asks; return how many units were removed.

        Backends may delete coarser units (whole daily indices), never hits at or after ``before``.
        A store that keeps rollups deletes no hit of an hour it has not sealed, whatever ``before``.
        """

    @property
    def keeps_totals(self) -> bool:
        """Whether :attr:`Counts.total` outlives retention: the store keeps rollups (implements :meth:`seal`).

        One that does not answers the total of the hits it still retains, which retention lowers.
        """
        return type(self).seal is not HitStore.seal

    def seal(self, before: int) -> int:
        """Roll every hour that ends at or before ``before`` (an hour boundary) up into one exact count per
        id, as :mod:`hitcount.core.rollups` says; return how many hourly counts of ids were written now.

        From then on :attr:`Counts.total` counts those hours from their buckets, whatever retention
        deletes. The default, for a store that keeps no rollups, seals nothing: its totals count the hits
        it retains.
        """
        return 0

    def rebuild(self, since: int) -> int:
        """Count every sealed hour from ``since`` on again from the hits the store still holds, written over
        its count; hours retention deleted hits of keep theirs. Return how many hourly counts were written.

        The default, for a store that keeps no rollups, writes none.
        """
        return 0

    @property
    def ranks_ids(self) -> bool:
        """Whether :meth:`top` answers: the store implements it."""
        return type(self).top is not HitStore.top

    def top(self, window: Window | None, now: int, limit: int, prefix: str = "") -> list[tuple[str, int]]:
        """The ``limit`` ids starting with ``prefix`` that have the most hits in ``window`` at ``now`` (ns), or
        the largest totals for ``window`` None: ``(id, count)`` pairs, most first, equal counts by id
        (:func:`hitcount.core.ranking.ranked`); an id's count is the one :meth:`counts` gives it then.

        The default, for a store that cannot list its ids, raises :class:`NotImplementedError`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not rank ids")

    @property
    def charts_hours(self) -> bool:
        """Whether :meth:`hours` answers: the store implements it."""
        return type(self).hours is not HitStore.hours

    def hours(self, id: str, now: int) -> Hours:
        """The hits of ``id`` in each UTC hour of the last three days up to ``now`` (:mod:`hitcount.core.hours`).

        The default, for a store that cannot tell them, raises :class:`NotImplementedError`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not count hits per hour")

    @abc.abstractmethod
    def health(self) -> Health:
        """Whether writing and counting can work now; never raises."""

    def refresh(self) -> None:  # noqa: B027 - stores that show writes at once need nothing
        """Make every completed write visible to :meth:`counts` now.

        Stores may delay visibility for speed (the product allows minutes); tests and
        benchmarks call this instead of sleeping. The default does nothing.
        """

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release connections; the default has nothing to release."""
