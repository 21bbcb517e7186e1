"""The indexer loop: queue batches in, one bulk store write out, acknowledgement only once the store has them.

Nothing is acknowledged before ``store.write`` returned, so a crash at any point leaves the
batches in the queue to be delivered again; stores write idempotently by hit id and uid, so the
second delivery changes no count. That is what makes a hit neither lost nor doubled.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hitcount.core import (
    Delivery,
    Hit,
    HitsRefused,
    HitStore,
    InvalidBatch,
    Queue,
    QueueUnavailable,
    StoreError,
    StoreUnavailable,
    now_ns,
)
from hitcount.core.config import format_duration
from hitcount.core.logs import RecurringLog
from hitcount.core.rollups import housekeep
from hitcount.core.windows import NS_PER_SECOND
from hitcount.core.wire import decode_batch, encode_batch
from hitcount.indexer import metrics
from hitcount.indexer.backoff import Backoff
from hitcount.indexer.settings import IndexerSettings

log = logging.getLogger(__name__)
# The longest a pause keeps a stop request waiting: signal handlers only set a flag.
PAUSE_SLICE = 0.1
# How often an indexer gathering a store write looks at a queue it found empty.
LINGER_POLL = 0.1
# Store failures that say the store is down, not that the hits are wrong: waited out, never counted as attempts.
OUTAGES = (StoreUnavailable, OSError)
# Test-only, never a setting: ``1`` makes the process SIGKILL itself after its first store write
# returned and before that write's batches are acknowledged, the one moment at which a crash
# leaves hits stored and still queued (tests/e2e/test_e2e_crash.py, the chaos run).
KILL_BEFORE_ACK = "HITCOUNT_TESTING_INDEXER_KILL_BEFORE_ACK"


@dataclass(frozen=True)
class Decoded:
    """A delivery and the hits its payload holds."""

    delivery: Delivery
    hits: list[Hit]


class Indexer:
    """Moves batches from ``queue`` to ``store`` as consumer ``consumer`` until :meth:`stop` is called."""

    def __init__(self, queue: Queue, store: HitStore, consumer: str, settings: IndexerSettings) -> None:
        self.queue = queue
        self.store = store
        self.consumer = consumer
        self.settings = settings
        # The data losses the queue reported so far, of which the metric counts each new one.
        self._losses_counted = 0
        self._store_backoff = Backoff(settings.retry_base, settings.retry_cap)
        self._queue_backoff = Backoff(settings.retry_base, settings.retry_cap)
        self._stopping = False
        # The queue or the store down: a few lines a minute, however often each call fails.
        self._outages = RecurringLog(log)
        self._kill_before_ack = os.environ.get(KILL_BEFORE_ACK) == "1"  # read once, not on every ack
        # Monotonic times the periodic duties are next due; 0 runs them on the first pass.
        self._next_purge = 0.0
        self._next_backlog = 0.0

    def stop(self) -> None:
        """End the loop once the batches in hand are acknowledged; safe to call from a signal handler."""
        self._stopping = True

    def run(self) -> None:
        """Index until stopped, purging old hits and refreshing the backlog gauges on their intervals."""
        log.info("indexer %s consuming up to %d batches at a time", self.consumer, self.settings.max_batches)
        while not self._stopping:
            self.housekeeping()
            self.step()
        log.info(
            "indexer %s stopped: indexed %d hits in %d batches, dead-lettered %d batches",
            self.consumer,
            metrics.counted("hitcount_indexer_hits_indexed_total"),
            metrics.counted("hitcount_indexer_batches_total"),
            metrics.counted("hitcount_indexer_dead_letters_total"),
        )

    def step(self) -> int:
        """Consume once and index what came; return how many batches were consumed.

        An unavailable queue is waited out with backoff here, so a caller's loop just calls again.
        """
        try:
            deliveries = self.queue.consume(self.consumer, self.settings.max_batches, self.settings.consume_wait)
        except QueueUnavailable as error:
            delay = self._queue_backoff.next_delay()
            self._queue_down(f"consuming failed: {error}; consuming again with backoff, hits wait in the queue")
            self._pause(delay)
            return 0
        self._queue_backoff.reset()
        self._outages.ended("queue", "queue back")
        if deliveries:
            self._gather(deliveries)
            self.index(deliveries)
        return len(deliveries)

    def _gather(self, deliveries: list[Delivery]) -> None:
        """Add queued batches to ``deliveries`` until they hold ``bulk_hits`` hits or ``linger`` has passed.

        Stores charge per write far more than per hit (Elasticsearch's translog fsync and
        request handling: BENCHMARKS.md), so, like a producer's linger, the indexer lets a
        write fill while the queue does. A queue that still holds batches is drained at
        once; an empty one is looked at again every ``LINGER_POLL``. Each call asks for
        about as many batches as the hits still wanted need, judging by the batches so
        far, so a write overshoots ``bulk_hits`` by little.
        """
        settings = self.settings
        hits = sum(delivery.hits for delivery in deliveries)
        deadline = time.monotonic() + settings.linger
        drained = len(deliveries) < settings.max_batches
        while hits < settings.bulk_hits and not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (drained and not self._pause(min(remaining, LINGER_POLL))):
                return
            per_batch = max(1.0, hits / len(deliveries))
            wanted = min(settings.max_batches, math.ceil((settings.bulk_hits - hits) / per_batch))
            try:
                more = self.queue.consume(self.consumer, wanted, 0)
            except QueueUnavailable as error:
                self._queue_down(f"consuming failed: {error}; writing the batches in hand")
                return
            deliveries += more
            hits += sum(delivery.hits for delivery in more)
            drained = len(more) < wanted

    def index(self, deliveries: Sequence[Delivery]) -> None:
        """Write the hits of every decodable delivery in one store write, then acknowledge them.

        Undecodable deliveries, and those already delivered more than ``max_attempts``
        times, are dead-lettered. When the store refuses some hits for good
        (:class:`HitsRefused`), those alone are dead-lettered. When it refuses the combined
        write for good (:class:`StoreError`) or fails in a way that is not an outage, each
        delivery is written alone to find the bad ones.
        """
        decoded = []
        for delivery in deliveries:
            if delivery.attempts > self.settings.max_attempts:
                self._dead_letter(
                    delivery,
                    f"delivered {delivery.attempts - 1} times without being acknowledged:"
                    " the indexers that took it crashed, stalled or failed on it",
                )
                continue
            try:
                decoded.append(Decoded(delivery, decode_batch(delivery.payload)))
            except InvalidBatch as error:
                self._dead_letter(delivery, str(error))
        try:
            written = self._write([hit for item in decoded for hit in item.hits])
        except HitsRefused as refusal:
            self._set_aside(decoded, refusal.refused)
            return
        except Exception as error:
            if len(decoded) == 1:
                self._blame(decoded[0], error)
            else:
                log.warning("store write of %d batches failed, writing each alone: %r", len(decoded), error)
                self._isolate(decoded)
            return
        if written:
            self._ack(decoded)

    def housekeeping(self) -> None:
        """Run the periodic duties that are due: the retention purge and the backlog gauges."""
        now = time.monotonic()
        if now >= self._next_purge:
            self._next_purge = now + self._purge()
        if now >= self._next_backlog:
            self._refresh_backlog()
            self._next_backlog = now + self.settings.backlog_interval

    def _isolate(self, decoded: Sequence[Decoded]) -> None:
        written = []
        for item in decoded:
            try:
                if not self._write(item.hits):
                    break
            except Exception as error:
                self._blame(item, error)
                continue
            written.append(item)
        self._ack(written)

    def _blame(self, item: Decoded, error: Exception) -> None:
        """Deal with the failed write of ``item`` alone: it is the batch's fault, for good or for this attempt.

        After a failure that is not a refusal the batch stays unacknowledged and comes back
        after the visibility timeout, its attempts counted by the queue (so every indexer,
        restarted or not, sees them), until its last attempt dead-letters it.
        """
        delivery = item.delivery
        if isinstance(error, HitsRefused):
            self._set_aside([item], error.refused)
        elif isinstance(error, StoreError):
            self._dead_letter(delivery, f"store refused the batch: {error}")
        elif delivery.attempts >= self.settings.max_attempts:
            self._dead_letter(
                delivery, f"store write failed on each of {delivery.attempts} deliveries, lastly: {error!r}"
            )
        else:
            log.warning(
                "store write of batch %s failed on delivery %d of %d; it will be delivered again",
                delivery.tag,
                delivery.attempts,
                self.settings.max_attempts,
                exc_info=error,
            )

    def _set_aside(self, decoded: Sequence[Decoded], refused: Mapping[int, str]) -> None:
        """Acknowledge the written deliveries; dead-letter the refused hits of the others, without their stored ones.

        ``refused`` maps positions in the write of every hit of ``decoded``, in order, to reasons.
        """
        written = []
        start = 0
        for item in decoded:
            mine = {
                position - start: refused[position]
                for position in range(start, start + len(item.hits))
                if position in refused
            }
            start += len(item.hits)
            if not mine:
                written.append(item)
                continue
            hits = [item.hits[position] for position in sorted(mine)]
            part = dataclasses.replace(item.delivery, payload=encode_batch(hits), hits=len(hits))
            reasons = "; ".join(sorted(set(mine.values())))
            stored = len(item.hits) - len(hits)
            if self._dead_letter(
                part, f"store refused {len(hits)} of the batch's {len(item.hits)} hits ({stored} stored): {reasons}"
            ):
                metrics.HITS_INDEXED.inc(stored)
        self._ack(written)

    def _write(self, hits: Sequence[Hit]) -> bool:
        """Write until the store has ``hits``; False when a stop request ended the retries first.

        An outage (:class:`StoreUnavailable`, or an ``OSError`` that escaped the store) is
        retried here, for as long as it lasts: it says nothing against the hits, and losing
        a hit is never the answer. Anything else propagates, to be pinned on its batch.
        """
        if not hits:
            return True
        while True:
            try:
                self.store.write(hits)
            except OUTAGES as error:
                delay = self._store_backoff.next_delay()
                self._outages.note(
                    "store",
                    f"store down: writing {len(hits)} hits failed: {error}; retrying with backoff,"
                    " hits kept in the queue",
                )
                if not self._pause(delay):
                    log.warning("stopping with %d hits unwritten; the queue will deliver them again", len(hits))
                    return False
                metrics.STORE_RETRIES.inc()
            else:
                self._store_backoff.reset()
                self._outages.ended("store", "store back")
                return True

    def _ack(self, decoded: Sequence[Decoded]) -> None:
        if not decoded:
            return
        if self._kill_before_ack:
            os.kill(os.getpid(), signal.SIGKILL)
        try:
            self.queue.ack([item.delivery for item in decoded])
        except QueueUnavailable as error:
            self._queue_down(
                f"could not acknowledge {len(decoded)} written batches: {error};"
                " they will be delivered and written again, harmlessly"
            )
            return
        metrics.BATCHES.inc(len(decoded))
        metrics.HITS_INDEXED.inc(sum(len(item.hits) for item in decoded))

    def _dead_letter(self, delivery: Delivery, reason: str) -> bool:
        """Set ``delivery`` aside with ``reason``; False when the queue could not (it comes back)."""
        log.error(
            "dead-lettering batch %s (%d hits, delivery %d): %s", delivery.tag, delivery.hits, delivery.attempts, reason
        )
        try:
            self.queue.dead_letter(delivery, reason)
        except QueueUnavailable as error:
            self._queue_down(f"could not dead-letter batch {delivery.tag}: {error}; it will be delivered again")
            return False
        metrics.DEAD_LETTERS.inc()
        return True

    def _purge(self) -> float:
        """Seal the hours that can be sealed, then delete hits older than the retention; return the seconds
        until the next purge."""
        try:
            sealed, removed = housekeep(self.store, now_ns(), int(self.settings.retention * NS_PER_SECOND))
        except Exception as error:
            delay = min(self.settings.purge_interval, self.settings.retry_cap)
            self._outages.note(
                "retention", f"retention purge failed, trying again in {format_duration(delay)}: {error!r}"
            )
            return delay
        self._outages.ended("retention", "retention purge works again")
        log.info(
            "retention: removed %d (hits or indices) older than %s; sealed %d hourly counts",
            removed,
            format_duration(self.settings.retention),
            sealed,
        )
        return self.settings.purge_interval

    def _refresh_backlog(self) -> None:
        try:
            backlog = self.queue.backlog()
        except Exception as error:
            self._queue_down(f"could not read the backlog for metrics: {error!r}")
            return
        metrics.observe_backlog(backlog, time.time())
        if (losses := self.queue.data_losses()) > self._losses_counted:
            metrics.QUEUE_DATA_LOSSES.inc(losses - self._losses_counted)
            self._losses_counted = losses

    def _queue_down(self, what: str) -> None:
        """The queue failed, as ``what`` says (and what the indexer does about it)."""
        self._outages.note("queue", f"queue down: {what}")

    def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless a stop request comes first; True when the whole pause passed."""
        deadline = time.monotonic() + seconds
        while not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            time.sleep(min(remaining, PAUSE_SLICE))
        return False
