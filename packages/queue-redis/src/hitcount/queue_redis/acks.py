"""Settling deliveries: acknowledging them, setting them aside as dead letters, and an operator's replay or drop."""

from __future__ import annotations

from collections.abc import Sequence

from hitcount.core.errors import QueueFull
from hitcount.core.queue import DeadLetter, Delivery
from hitcount.queue_redis import entries, scripts
from hitcount.queue_redis.consumption import GROUP
from hitcount.queue_redis.entries import text
from hitcount.queue_redis.keys import Partition
from hitcount.queue_redis.runner import ScriptCall, ScriptRunner


class Acks:
    """Acknowledgements and the dead-letter stream of each partition.

    ``share`` is each partition's part of the backlog limit, which a replayed dead letter must fit in.
    """

    def __init__(self, runner: ScriptRunner, partitions: tuple[Partition, ...], share: int) -> None:
        self._runner = runner
        self._partitions = partitions
        self._share = share

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        by_partition: dict[Partition, list[str | int]] = {}
        for delivery in deliveries:
            index, entry_id = entries.locate(delivery.tag, len(self._partitions))
            by_partition.setdefault(self._partitions[index], []).extend((entry_id, delivery.hits))
        if not by_partition:
            return
        calls = [
            ScriptCall(scripts.ACK, [partition.stream, partition.hits], [GROUP, *pairs])
            for partition, pairs in by_partition.items()
        ]
        with self._runner.unavailable("ack"):
            self._runner.pipelined(calls)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        index, entry_id = entries.locate(delivery.tag, len(self._partitions))
        partition = self._partitions[index]
        with self._runner.unavailable("dead-letter"):
            keys = [partition.stream, partition.hits, partition.dead]
            self._runner.run(scripts.DEAD_LETTER, keys, [GROUP, entry_id, reason, delivery.payload, delivery.hits])

    def dead_letters(self) -> list[DeadLetter]:
        with self._runner.unavailable("list dead letters"), self._runner.client().pipeline(transaction=False) as pipe:
            for partition in self._partitions:
                pipe.xrange(partition.dead)
            answers = pipe.execute()
        letters = [
            DeadLetter(
                entries.tag(partition, letter_id),
                fields[b"payload"],
                int(fields[b"hits"]),
                text(fields[b"reason"]),
                entries.entry_time(text(letter_id)),
            )
            for partition, letters in zip(self._partitions, answers, strict=True)
            for letter_id, fields in letters
        ]
        return sorted(letters, key=lambda letter: (letter.failed_at, letter.tag))

    def replay_dead_letter(self, tag: str) -> bool:
        try:
            index, letter_id = entries.locate(tag, len(self._partitions))
        except ValueError:
            return False
        partition = self._partitions[index]
        with self._runner.unavailable("replay dead letter"):
            keys = [partition.stream, partition.hits, partition.dead]
            replayed = self._runner.write(scripts.REPLAY, keys, [letter_id, self._share])
        if replayed == -1:
            raise QueueFull(
                f"redis queue {self._runner.where}: partition {index} is full (it holds its share of the backlog,"
                f" {self._share} hits)"
            )
        return bool(replayed)

    def drop_dead_letter(self, tag: str) -> bool:
        try:
            index, letter_id = entries.locate(tag, len(self._partitions))
        except ValueError:
            return False
        with self._runner.unavailable("drop dead letter"):
            # One XDEL on one partition's dead-letter stream: atomic as it is, and no counter
            # holds dead letters (``hits`` counts the stream's backlog only), so no script.
            return bool(self._runner.client().xdel(self._partitions[index].dead, letter_id))
