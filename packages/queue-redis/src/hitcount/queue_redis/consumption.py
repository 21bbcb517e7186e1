"""Consuming: the consumer group ``indexers`` on every partition, what it hands out, and what its loss means.

A consumer takes stale entries (``XAUTOCLAIM``: unacknowledged past the visibility timeout)
and new ones from each partition in turn, then waits in Redis for a new one. The group is
created where it is missing; one created again where it existed before means Redis lost the
stream and its batches, which is logged and counted. Consumers idle with nothing pending
(indexers that are gone) are pruned.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar, cast

import redis

from hitcount.core.queue import Delivery
from hitcount.queue_redis import entries, scripts
from hitcount.queue_redis.entries import text
from hitcount.queue_redis.keys import Partition
from hitcount.queue_redis.routing import Router
from hitcount.queue_redis.runner import ScriptCall, ScriptRunner

T = TypeVar("T")
# The shapes of two replies: the TAKE script's, and redis-py's parsed XREADGROUP.
TakeReply = tuple[bytes, list[tuple[bytes, list[bytes], int]]]
ReadReply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]
log = logging.getLogger(__name__)

GROUP = "indexers"
# The longest a blocking read waits in Redis before consume() looks again for stale
# entries to claim: it bounds how late a redelivery can be noticed by a waiting consumer.
BLOCK_SLICE = 1.0
# How long a consumer of the group (an indexer) may stay idle with nothing pending before it
# is removed, so that the names of indexers that are gone do not pile up.
CONSUMER_EXPIRY = 3600.0
# How Redis says a stream or its group is gone: NOGROUP, to a read blocked on a stream
# that was deleted "UNBLOCKED the stream key no longer exists", and to XINFO "no such key".
_GROUP_LOST = re.compile(r"NOGROUP|no longer exists|no such key")


class Consumption:
    """Hands out the partitions' entries to named consumers of the group, keeping the group in place."""

    def __init__(self, runner: ScriptRunner, router: Router, visibility_timeout: float, consumer_expiry: float) -> None:
        self._runner = runner
        self._router = router
        self._partitions = router.partitions
        self._visibility_ms = max(1, round(visibility_timeout * 1000))
        self._consumer_expiry_ms = max(1, round(consumer_expiry * 1000))
        # Monotonic time the idle consumers are next pruned; 0 prunes on the first consume.
        self._next_prune = 0.0
        self._cursors = ["0-0"] * len(self._partitions)
        # Partitions whose group this process has seen, and the losses of one it found since.
        self._groups_seen: set[int] = set()
        self.losses = 0

    def consume(self, consumer: str, max_batches: int, wait: float) -> list[Delivery]:
        now = time.monotonic()
        deadline = now + wait
        if now >= self._next_prune:
            self._prune_consumers()
            self._next_prune = now + self._consumer_expiry_ms / 4000
        while True:
            order = self._router.round()
            taken = self._sweep(consumer, max_batches, order)
            remaining = deadline - time.monotonic()
            if taken or remaining <= 0:
                return taken
            taken = self._wait_for_new(consumer, max_batches, order, min(remaining, BLOCK_SLICE))
            if taken:
                return taken

    def _sweep(self, consumer: str, max_batches: int, order: list[Partition]) -> list[Delivery]:
        """Take stale and new entries from each partition in turn, without waiting."""
        taken: list[Delivery] = []
        for partition in order:
            if len(taken) == max_batches:
                break
            args: list[str | int] = [GROUP, consumer, self._visibility_ms, self._cursors[partition.index]]
            args.append(max_batches - len(taken))
            with self._runner.unavailable("consume"):
                reply = self.with_group(partial(self._runner.run, scripts.TAKE, [partition.stream], args))
            cursor, found = cast(TakeReply, reply)
            self._cursors[partition.index] = text(cursor)
            taken += [entries.delivery(partition, entry_id, fields, attempts) for entry_id, fields, attempts in found]
        return taken

    def _wait_for_new(self, consumer: str, max_batches: int, order: list[Partition], seconds: float) -> list[Delivery]:
        """Block until a new entry arrives on one of the first ``max_batches`` partitions of ``order``,
        for at most ``seconds``.

        One entry per stream keeps the answer within ``max_batches`` however many streams
        have entries by then; streams left out are looked at by the next sweep.
        """
        # A cluster refuses a command on keys of several slots: there, one stream at a time.
        watched = order[: 1 if self._runner.cluster else max_batches]
        by_stream = {partition.stream: partition for partition in watched}
        with self._runner.unavailable("consume"):
            answer = self.with_group(
                partial(
                    self._runner.connection().blocking.xreadgroup,
                    GROUP,
                    consumer,
                    dict.fromkeys(by_stream, ">"),
                    count=1,
                    block=max(1, round(seconds * 1000)),  # BLOCK 0 would mean forever
                )
            )
        return [
            entries.delivery(by_stream[text(stream)], entry_id, fields, 1)
            for stream, found in cast(ReadReply | None, answer) or []
            for entry_id, fields in found
        ]

    def with_group(self, command: Callable[[], T]) -> T:
        """Run ``command``; if Redis lost the consumer group (restarted empty, flushed), create it and run again."""
        try:
            return command()
        except redis.ResponseError as error:
            if not _GROUP_LOST.search(str(error)):
                raise
        self.ensure_groups()
        return command()

    def ensure_groups(self) -> None:
        """Create the group on every partition stream lacking it (and check that Redis answers).

        A new group starts at id 0 so that it delivers every entry the stream still holds:
        entries are deleted when acknowledged, so whatever is there was never processed.
        A group created again where it existed before (its marker key remains, or this
        process used it) means Redis lost the stream and the batches it held: that is
        logged as an error and counted (:attr:`losses`).
        """
        now = round(time.time() * 1000)
        calls = [
            ScriptCall(scripts.ENSURE_GROUP, [partition.stream, partition.group], [GROUP, now])
            for partition in self._partitions
        ]
        answers = self._runner.pipelined(calls)
        created = 0
        for partition, answer in zip(self._partitions, answers, strict=True):
            state = int(answer[0])
            lost = state == 2 or (state == 1 and partition.index in self._groups_seen)
            self._groups_seen.add(partition.index)
            created += state != 0
            if lost:
                self.losses += 1
                since = f"first created at {text(answer[1])} ms" if state == 2 else "used by this process"
                log.error(
                    "redis queue %s: consumer group %r of %s was gone (%s), so Redis lost the stream and the batches"
                    " it held, published and acknowledged to their senders (restarted without its append-only file,"
                    " flushed, or the key was deleted); created it again",
                    self._runner.where,
                    GROUP,
                    partition.stream,
                    since,
                )
        if created:
            log.info("redis queue %s: created consumer group %r on %d stream(s)", self._runner.where, GROUP, created)

    def _prune_consumers(self) -> None:
        """Remove the consumers idle longer than the consumer expiry with nothing pending.

        Every indexer consumes under a name of its own, so each restart adds one to the group;
        a live indexer that was removed is added again by its next read.
        """
        calls = [
            ScriptCall(scripts.PRUNE_CONSUMERS, [partition.stream], [GROUP, self._consumer_expiry_ms])
            for partition in self._partitions
        ]
        with self._runner.unavailable("consume"):
            removed = sum(int(count) for count in self.with_group(partial(self._runner.pipelined, calls)))
        if removed:
            log.info("redis queue %s: removed %d idle consumer(s) with nothing pending", self._runner.where, removed)
