"""The Queue interface: how hits travel from the API to the indexer.

A queue carries opaque payloads (core encodes them as protobuf ``HitBatch``
messages, see :mod:`hitcount.core.wire`). Delivery is at-least-once: a consumed
batch stays owned by its consumer until acknowledged, and one that is not
acknowledged within the visibility timeout is delivered again, to this or another
consumer. Stores write idempotently by hit id and uid, so redelivery never double-counts.

A queue promises no order between batches: a partitioned backend spreads one publisher's
batches over partitions that consumers read in turn, and a batch delivered again comes after
batches published later were processed. Nothing needs an order: a store counts each hit by
its own timestamp, whenever its batch arrives. What a queue does promise is that no batch is
left behind: every batch published is delivered, and while newer batches keep coming, a
waiting one is still taken after a bounded number of them (a queue that served newest first
could starve it, and the ingestion lag with it, for as long as traffic lasts).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

from hitcount.core.config import Setting, parse_duration
from hitcount.core.health import Health

VISIBILITY_TIMEOUT = Setting(
    "HITCOUNT_QUEUE_VISIBILITY_TIMEOUT",
    "30s",
    "How long a consumed batch may stay unacknowledged before it is delivered again.",
    parse_duration,
)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A batch handed to a consumer; ``tag`` is the backend's handle for acknowledging it."""

    tag: str
    payload: bytes
    hits: int
    published_at: float
    #: Which delivery of the batch this is (1 for the first), counted by the backend itself,
    #: so that every consumer, restarted or not, sees how often the batch failed before.
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A payload that could not be processed, kept for an operator to inspect and replay."""

    tag: str
    payload: bytes
    hits: int
    reason: str
    failed_at: float


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits in the queue: entries not yet acknowledged, and the oldest one's publish time."""

    batches: int
    hits: int
    oldest_published_at: float | None


class Queue(abc.ABC):
    """A durable, at-least-once queue of hit batches shared by API processes and indexers."""

    @abc.abstractmethod
    def publish(self, payload: bytes, hits: int) -> None:
        """Append one batch of ``hits`` hits; return only once the queue holds it durably.

        Raises :class:`~hitcount.core.QueueFull` when the backlog is at its maximum and
        :class:`~hitcount.core.QueueUnavailable` when the backend cannot take it now.
        """

    @abc.abstractmethod
    def consume(self, consumer: str, max_batches: int, wait: float) -> list[Delivery]:
        """Take up to ``max_batches`` batches for ``consumer``, waiting up to ``wait`` seconds for one.

        Batches come from those never delivered and those whose delivery was not acknowledged
        within the visibility timeout, in no promised order, but none waiting behind an unbounded
        number of newer ones (see the module's docstring). Returns an empty list when there is nothing.
        """

    @abc.abstractmethod
    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge processed batches: they are removed and never delivered again."""

    @abc.abstractmethod
    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Move a batch that cannot be processed aside (atomically acknowledging it).

        The dead letter keeps ``delivery.payload`` and ``delivery.hits``, which may be only
        the part of the batch ``delivery.tag`` names that failed (the rest was processed):
        the whole batch is acknowledged either way.
        """

    @abc.abstractmethod
    def dead_letters(self) -> list[DeadLetter]:
        """The dead-lettered batches, oldest first."""

    @abc.abstractmethod
    def replay_dead_letter(self, tag: str) -> bool:
        """Publish a dead letter's payload again and remove it; False when no such tag exists
        (whatever the text: an operator types it)."""

    @abc.abstractmethod
    def drop_dead_letter(self, tag: str) -> bool:
        """Delete a dead letter for good, its hits with it; False when no such tag exists (whatever the text).

        For a batch an operator has looked at and will never want counted (a client's garbage),
        which would otherwise be listed, and replayable by mistake, forever.
        """

    @abc.abstractmethod
    def backlog(self) -> Backlog:
        """The unacknowledged batches, for metrics and the ingestion lag."""

    @abc.abstractmethod
    def health(self) -> Health:
        """Whether publishing and consuming can work now; never raises."""

    def salt(self, day: int) -> bytes | None:
        """The visitor salt of UTC day ``day`` (days since 1970-01-01), shared by every process of this queue.

        The first process to ask for a day's salt makes it (:func:`~hitcount.core.visitors.new_salt`);
        every other, at the same moment or later, gets the same one: make it without races.
        Salts are secrets that must not outlive :func:`~hitcount.core.visitors.salt_expiry`: a
        backend deletes each by then, and also, when it makes a salt, every salt of a day before
        ``day - 1`` (so that a clock moved forward deletes them too). Raises
        :class:`~hitcount.core.QueueUnavailable` when the backend cannot answer now.

        The default returns None: this queue cannot share salts, and hits get no visitor key
        (they count as hits, not as visitors).
        """
        return None

    def data_losses(self) -> int:
        """How often, since it was opened, this queue found that its backend had lost batches it held.

        A server restarted without its data loses batches whose publish had succeeded; a
        backend that can tell (its own records outlived them) logs an error and counts it
        here, for the indexer's metrics. The default never finds any.
        """
        return 0

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release connections; the default has nothing to release."""
