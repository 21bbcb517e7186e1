"""The ``redis`` queue: batches in Redis Streams, handed to indexers through a consumer group.

Publishing appends an entry (payload and hit count) to one of the partition streams;
consuming reads entries for a named consumer of the group ``indexers``, which keeps each
one in the group's pending list until it is acknowledged. An entry left pending longer than
the visibility timeout (its consumer died or stalled) is claimed by the next consumer that
looks (``XAUTOCLAIM``), so nothing is lost; acknowledging deletes the entry, so the streams
hold only the backlog. A counter per partition holds the backlog in hits, changed in the same
Lua script as the stream, and caps it at :data:`MAX_BACKLOG`.

The client is plain redis-py: no threads of its own, sockets that gevent can patch, bounded
timeouts on every call, and no retries (a caller that gets :class:`QueueUnavailable` decides).
On a Redis Cluster it is redis-py's cluster client, which follows failovers and resharding;
each partition's keys share a hash tag, so each script runs on one master.

With ``HITCOUNT_REDIS_MIN_REPLICAS`` above 0, a publish (or a replay) is answered only once
that many replicas have it (``WAIT`` on the connection that wrote it): a master that dies
after answering leaves it on a replica that takes over. Refused, it may still be in the
stream, and be delivered; a copy sent again (the API's spool, the client's retry) is the same
hits with the same uids, which stores count once.

:class:`RedisQueue` composes the parts, each in a module of its own: :mod:`.routing` (which
partition a batch goes to), :mod:`.runner` (running the Lua scripts, with ``WAIT`` and
``MOVED``), :mod:`.consumption` (the consumer group, and its loss), :mod:`.acks` (acks and
dead letters) and :mod:`.health` (each master's persistence).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hitcount.core.config import Config
from hitcount.core.errors import QueueFull
from hitcount.core.health import Health
from hitcount.core.masking import mask_url
from hitcount.core.queue import VISIBILITY_TIMEOUT, Backlog, DeadLetter, Delivery, Queue
from hitcount.core.visitors import SALT_DAYS_KEPT, new_salt, salt_expiry
from hitcount.queue_redis import consumption, health, keys, scripts
from hitcount.queue_redis.acks import Acks
from hitcount.queue_redis.client import Connector
from hitcount.queue_redis.consumption import CONSUMER_EXPIRY, Consumption
from hitcount.queue_redis.entries import entry_time, text
from hitcount.queue_redis.keys import Partition
from hitcount.queue_redis.routing import Router
from hitcount.queue_redis.runner import ScriptCall, ScriptRunner
from hitcount.queue_redis.settings import MIN_REPLICAS, PARTITIONS, PREFIX, REDIS_URL, TIMEOUT

# Unacknowledged hits beyond which publishing fails with QueueFull (the API spools, then answers
# 503) instead of filling Redis's memory; split evenly over the partitions.
MAX_BACKLOG = 10_000_000


class RedisQueue(Queue):
    """A :class:`~hitcount.core.Queue` on Redis Streams; safe to share between threads and greenlets.

    Opening one does not connect: an API that starts while Redis is down serves 503s and
    reports itself not ready, then recovers when Redis is back.

    The defaults are those of the settings :meth:`from_config` reads.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "hitcount",
        partitions: int = 1,
        timeout: float = 0.5,
        min_replicas: int | None = None,
        visibility_timeout: float = 30.0,
        max_backlog: int = MAX_BACKLOG,
        consumer_expiry: float = CONSUMER_EXPIRY,
    ) -> None:
        self._where = mask_url(url)
        self._prefix = prefix
        self._partitions = keys.partitions(prefix, partitions)
        self._share = math.ceil(max_backlog / len(self._partitions))
        # Blocking reads wait up to BLOCK_SLICE in Redis, so their socket must wait longer.
        self._connector = Connector(url, timeout, consumption.BLOCK_SLICE)
        # Replicas get half the timeout to confirm, so that a refusal comes before the socket gives up.
        self._runner = ScriptRunner(self._connector, self._where, min_replicas, timeout / 2)
        self._router = Router(self._partitions)
        self._consumption = Consumption(self._runner, self._router, visibility_timeout, consumer_expiry)
        self._acks = Acks(self._runner, self._partitions, self._share)

    @classmethod
    def from_config(cls, config: Config) -> RedisQueue:
        """The queue the ``HITCOUNT_REDIS_*`` settings and ``HITCOUNT_QUEUE_VISIBILITY_TIMEOUT`` describe."""
        return cls(
            config.get(REDIS_URL),
            prefix=config.get(PREFIX),
            partitions=config.get(PARTITIONS),
            timeout=config.get(TIMEOUT),
            min_replicas=config.get(MIN_REPLICAS),
            visibility_timeout=config.get(VISIBILITY_TIMEOUT),
        )

    def publish(self, payload: bytes, hits: int) -> None:
        """Add the batch to the next partition with room (see :meth:`Router.place`: on a cluster, the next
        one whose master takes it when one cannot).

        A batch refused by one master may still be in its stream and be delivered besides the
        copy taken by another: its hits' uids make the store count them once.
        """

        def add(partition: Partition) -> bool:
            with self._runner.unavailable("publish"):
                counted = [partition.stream, partition.hits]
                return bool(self._runner.write(scripts.PUBLISH, counted, [payload, hits, self._share]))

        if not self._router.place(add, failover=lambda: self._runner.cluster):
            raise QueueFull(
                f"redis queue {self._where}: the backlog is at its maximum"
                f" ({self._share * len(self._partitions)} hits); cannot add {hits} more"
            )

    def consume(self, consumer: str, max_batches: int, wait: float) -> list[Delivery]:
        return self._consumption.consume(consumer, max_batches, wait)

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        self._acks.ack(deliveries)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        self._acks.dead_letter(delivery, reason)

    def dead_letters(self) -> list[DeadLetter]:
        return self._acks.dead_letters()

    def replay_dead_letter(self, tag: str) -> bool:
        return self._acks.replay_dead_letter(tag)

    def drop_dead_letter(self, tag: str) -> bool:
        return self._acks.drop_dead_letter(tag)

    def salt(self, day: int) -> bytes | None:
        """The day's salt under ``<prefix>:{salt}:<day>``, expiring by itself when it must be deleted.

        No ``WAIT`` for replicas: a salt lost with its master is made again, which splits that day's
        visitors in two, while waiting would hold every visitor key up whenever a replica lags. The
        same happens if a Redis shared with the counts cache under ``volatile-lru`` evicts the key (it
        has a time to live): a salt is 32 bytes, evicted only when Redis is out of memory.
        """
        day_key, old_key = keys.salt(self._prefix, day), keys.salt(self._prefix, day - SALT_DAYS_KEPT)
        with self._runner.unavailable("visitor salt"):
            salt = self._runner.run(scripts.SALT, [day_key, old_key], [new_salt(), salt_expiry(day)])
        return bytes(salt)

    def backlog(self) -> Backlog:
        calls = [ScriptCall(scripts.BACKLOG, [partition.stream, partition.hits], []) for partition in self._partitions]
        with self._runner.unavailable("backlog"):
            answers = self._runner.pipelined(calls)
        oldest = [entry_time(text(first)) for _, _, first in answers if first]
        return Backlog(
            sum(int(entries) for entries, _, _ in answers),
            sum(int(hits) for _, hits, _ in answers),
            min(oldest, default=None),
        )

    def health(self) -> Health:
        return health.check(self._runner, self._consumption, self._partitions)

    def data_losses(self) -> int:
        return self._consumption.losses

    def close(self) -> None:
        self._connector.close()
