"""The ``redis`` queue: batches in Redis Streams, handed to indexers through a consumer group.

Publishing appends an entry (payload and hit count) to one of the partition streams;
consuming reads entries for a named consumer of the group ``indexers``, which keeps each
one in the group's pending list until it is acknowledged. An entry left pending longer than
the visibility timeout (its consumer died or stalled) is claimed by the next consumer that
looks (``XAUTOCLAIM``), so nothing is lost; acknowledging deletes the entry, so the streams
hold only the backlog. A counter per partition holds the backlog in hits, changed in the same
Lua script as the stream, and caps it at ``HITCOUNT_REDIS_MAX_BACKLOG``.

The client is plain redis-py: no threads of its own, sockets that gevent can patch, bounded
timeouts on every call, and no retries (a caller that gets :class:`QueueUnavailable` decides).
On a Redis Cluster it is redis-py's cluster client, which follows failovers and resharding;
each partition's keys share a hash tag, so each script runs on one master.

With ``HITCOUNT_REDIS_MIN_REPLICAS`` above 0, a publish (or a replay) is answered only once
that many replicas have it (``WAIT`` on the connection that wrote it): a master that dies
after answering leaves it on a replica that takes over. Refused, it may still be in the
stream, and be delivered; a copy sent again (the API's spool, the client's retry) is the same
hits with the same uids, which stores count once.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

import redis
from redis.cluster import RedisCluster

from hitcount.core.config import Config
from hitcount.core.errors import QueueFull, QueueUnavailable
from hitcount.core.health import Health
from hitcount.core.masking import mask_url
from hitcount.core.queue import VISIBILITY_TIMEOUT, Backlog, DeadLetter, Delivery, Queue
from hitcount.queue_redis import persistence, scripts
from hitcount.queue_redis.client import Client, Connection, Connector, unavailable
from hitcount.queue_redis.keys import Partition, partitions
from hitcount.queue_redis.scripts import Lua
from hitcount.queue_redis.settings import (
    CONSUMER_EXPIRY,
    MAX_BACKLOG,
    MAX_CONNECTIONS,
    MIN_REPLICAS,
    PARTITIONS,
    PREFIX,
    REDIS_URL,
    TIMEOUT,
)

T = TypeVar("T")
# The shapes of two replies: the TAKE script's, and redis-py's parsed XREADGROUP.
TakeReply = tuple[bytes, list[tuple[bytes, list[bytes], int]]]
ReadReply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]
log = logging.getLogger(__name__)

GROUP = "indexers"
# The longest a blocking read waits in Redis before consume() looks again for stale
# entries to claim: it bounds how late a redelivery can be noticed by a waiting consumer.
BLOCK_SLICE = 1.0
# How long a partition whose master refused a publish (on a cluster) is tried after the others.
REFUSED_PAUSE = 5.0
_ENTRY_ID = re.compile(r"^\d+-\d+$")
# How Redis says a stream or its group is gone: NOGROUP, to a read blocked on a stream
# that was deleted "UNBLOCKED the stream key no longer exists", and to XINFO "no such key".
_GROUP_LOST = re.compile(r"NOGROUP|no longer exists|no such key")
_PUBLISH = Lua(scripts.PUBLISH)
_TAKE = Lua(scripts.TAKE)
_ACK = Lua(scripts.ACK)
_DEAD_LETTER = Lua(scripts.DEAD_LETTER)
_REPLAY = Lua(scripts.REPLAY)
_BACKLOG = Lua(scripts.BACKLOG)
_ENSURE_GROUP = Lua(scripts.ENSURE_GROUP)
_PRUNE = Lua(scripts.PRUNE_CONSUMERS)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry_time(entry_id: str) -> float:
    """When Redis added the entry (published it, or dead-lettered it): its id is ``<milliseconds>-<sequence>``."""
    return int(entry_id.split("-", 1)[0]) / 1000


@dataclass(frozen=True)
class ScriptCall:
    """One call of a registered Lua script, to be pipelined."""

    script: Lua
    keys: list[str]
    args: list[str | int]


class RedisQueue(Queue):
    """A :class:`~hitcount.core.Queue` on Redis Streams; safe to share between threads and greenlets.

    Opening one does not connect: an API that starts while Redis is down serves 503s and
    reports itself not ready, then recovers when Redis is back.
    """

    def __init__(self, config: Config) -> None:
        url = config.get(REDIS_URL)
        timeout = config.get(TIMEOUT)
        self._where = mask_url(url)
        self._partitions = partitions(config.get(PREFIX), config.get(PARTITIONS))
        self._share = math.ceil(config.get(MAX_BACKLOG) / len(self._partitions))
        self._visibility_ms = max(1, round(config.get(VISIBILITY_TIMEOUT) * 1000))
        # Blocking reads wait up to BLOCK_SLICE in Redis, so their socket must wait longer.
        self._connector = Connector(url, timeout, config.get(MAX_CONNECTIONS), BLOCK_SLICE)
        self._min_replicas = config.get(MIN_REPLICAS)
        # Replicas get half the timeout to confirm, so that a refusal comes before the socket gives up.
        self._wait_ms = max(1, round(timeout * 500))
        # Partitions whose group this process has seen, and the losses of one it found since.
        self._groups_seen: set[int] = set()
        self._losses = 0
        self._consumer_expiry_ms = max(1, round(config.get(CONSUMER_EXPIRY) * 1000))
        # Monotonic time the idle consumers are next pruned; 0 prunes on the first consume.
        self._next_prune = 0.0
        # Partitions whose master refused a publish lately, by index: when to try them first again.
        self._refused_until: dict[int, float] = {}
        # Where each process starts its round-robin, so that API workers do not move in step.
        self._turn = itertools.count(random.randrange(len(self._partitions)))
        self._cursors = ["0-0"] * len(self._partitions)

    # -- publishing

    def publish(self, payload: bytes, hits: int) -> None:
        """Add the batch to the next partition with room; on a cluster, to the next one whose
        master takes it when one cannot (it died, or its replicas do not confirm), so that a
        master lost costs its share of the partitions, not the publishes that meet it. A
        partition that refused is tried last for :data:`REFUSED_PAUSE` seconds, so that its
        master's failure costs one publish in that time, not every publish that meets it.

        A batch refused by one master may still be in its stream and be delivered besides the
        copy taken by another: its hits' uids make the store count them once.
        """
        first = next(self._turn)
        now = time.monotonic()
        rotation = [self._partitions[(first + step) % len(self._partitions)] for step in range(len(self._partitions))]
        # Stable: the partitions that refused lately keep their order, after the others.
        rotation.sort(key=lambda partition: self._refused_until.get(partition.index, 0.0) > now)
        refused: QueueUnavailable | None = None
        for partition in rotation:
            try:
                with self._unavailable("publish"):
                    if self._write(_PUBLISH, [partition.stream, partition.hits], [payload, hits, self._share]):
                        self._refused_until.pop(partition.index, None)
                        return
            except QueueUnavailable as error:
                if not self._connector.cluster:
                    raise  # every partition is on the one server that failed
                self._refused_until[partition.index] = time.monotonic() + REFUSED_PAUSE
                refused = error
        if refused is not None:
            raise refused
        raise QueueFull(
            f"redis queue {self._where}: the backlog is at HITCOUNT_REDIS_MAX_BACKLOG"
            f" ({self._share * len(self._partitions)} hits); cannot add {hits} more"
        )

    # -- consuming

    def consume(self, consumer: str, max_batches: int, wait: float) -> list[Delivery]:
        now = time.monotonic()
        deadline = now + wait
        if now >= self._next_prune:
            self._prune_consumers()
            self._next_prune = now + self._consumer_expiry_ms / 4000
        while True:
            start = next(self._turn)
            taken = self._sweep(consumer, max_batches, start)
            remaining = deadline - time.monotonic()
            if taken or remaining <= 0:
                return taken
            taken = self._wait_for_new(consumer, max_batches, start, min(remaining, BLOCK_SLICE))
            if taken:
                return taken

    def _sweep(self, consumer: str, max_batches: int, start: int) -> list[Delivery]:
        """Take stale and new entries from each partition in turn, without waiting."""
        taken: list[Delivery] = []
        for step in range(len(self._partitions)):
            if len(taken) == max_batches:
                break
            partition = self._partitions[(start + step) % len(self._partitions)]
            args: list[str | int] = [GROUP, consumer, self._visibility_ms, self._cursors[partition.index]]
            args.append(max_batches - len(taken))
            with self._unavailable("consume"):
                reply = self._with_group(partial(self._run, self._client(), _TAKE, [partition.stream], args))
            cursor, entries = cast(TakeReply, reply)
            self._cursors[partition.index] = _text(cursor)
            taken += [self._delivery(partition, entry_id, fields, attempts) for entry_id, fields, attempts in entries]
        return taken

    def _wait_for_new(self, consumer: str, max_batches: int, start: int, seconds: float) -> list[Delivery]:
        """Block until a new entry arrives on one of up to ``max_batches`` partitions, for at most ``seconds``.

        One entry per stream keeps the answer within ``max_batches`` however many streams
        have entries by then; streams left out are looked at by the next sweep.
        """
        count = len(self._partitions)
        # A cluster refuses a command on keys of several slots: there, one stream at a time.
        streams = 1 if self._connector.cluster else min(max_batches, count)
        watched = [self._partitions[(start + step) % count] for step in range(streams)]
        by_stream = {partition.stream: partition for partition in watched}
        with self._unavailable("consume"):
            answer = self._with_group(
                partial(
                    self._connection().blocking.xreadgroup,
                    GROUP,
                    consumer,
                    dict.fromkeys(by_stream, ">"),
                    count=1,
                    block=max(1, round(seconds * 1000)),  # BLOCK 0 would mean forever
                )
            )
        return [
            self._delivery(by_stream[_text(stream)], entry_id, fields, 1)
            for stream, entries in cast(ReadReply | None, answer) or []
            for entry_id, fields in entries
        ]

    def _delivery(
        self, partition: Partition, entry_id: bytes | str, fields: dict[bytes, bytes] | list[bytes], attempts: int
    ) -> Delivery:
        """A Delivery from an entry, whose fields come as a dict from redis-py or a flat list from Lua."""
        if isinstance(fields, list):
            fields = dict(zip(fields[::2], fields[1::2], strict=True))
        entry = _text(entry_id)
        return Delivery(
            f"{partition.index}:{entry}",
            fields.get(b"payload", b""),
            int(fields.get(b"hits", 0)),
            _entry_time(entry),
            int(attempts),
        )

    def _with_group(self, command: Callable[[], T]) -> T:
        """Run ``command``; if Redis lost the consumer group (restarted empty, flushed), create it and run again."""
        try:
            return command()
        except redis.ResponseError as error:
            if not _GROUP_LOST.search(str(error)):
                raise
        self._ensure_groups()
        return command()

    def _ensure_groups(self) -> None:
        """Create the group on every partition stream lacking it (and check that Redis answers).

        A new group starts at id 0 so that it delivers every entry the stream still holds:
        entries are deleted when acknowledged, so whatever is there was never processed.
        A group created again where it existed before (its marker key remains, or this
        process used it) means Redis lost the stream and the batches it held: that is
        logged as an error and counted (:meth:`data_losses`).
        """
        now = round(time.time() * 1000)
        calls = [
            ScriptCall(_ENSURE_GROUP, [partition.stream, partition.group], [GROUP, now])
            for partition in self._partitions
        ]
        answers = self._pipelined(calls)
        created = 0
        for partition, answer in zip(self._partitions, answers, strict=True):
            state = int(answer[0])
            lost = state == 2 or (state == 1 and partition.index in self._groups_seen)
            self._groups_seen.add(partition.index)
            created += state != 0
            if lost:
                self._losses += 1
                since = f"first created at {_text(answer[1])} ms" if state == 2 else "used by this process"
                log.error(
                    "redis queue %s: consumer group %r of %s was gone (%s), so Redis lost the stream and the batches"
                    " it held, published and acknowledged to their senders (restarted without its append-only file,"
                    " flushed, or the key was deleted); created it again",
                    self._where,
                    GROUP,
                    partition.stream,
                    since,
                )
        if created:
            log.info("redis queue %s: created consumer group %r on %d stream(s)", self._where, GROUP, created)

    def _prune_consumers(self) -> None:
        """Remove the consumers idle longer than ``HITCOUNT_REDIS_CONSUMER_EXPIRY`` with nothing pending.

        Every indexer consumes under a name of its own, so each restart adds one to the group;
        a live indexer that was removed is added again by its next read.
        """
        calls = [
            ScriptCall(_PRUNE, [partition.stream], [GROUP, self._consumer_expiry_ms]) for partition in self._partitions
        ]
        with self._unavailable("consume"):
            removed = sum(int(count) for count in self._with_group(partial(self._pipelined, calls)))
        if removed:
            log.info("redis queue %s: removed %d idle consumer(s) with nothing pending", self._where, removed)

    # -- acknowledging

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        by_partition: dict[Partition, list[str | int]] = {}
        for delivery in deliveries:
            index, entry_id = self._locate(delivery.tag)
            by_partition.setdefault(self._partitions[index], []).extend((entry_id, delivery.hits))
        if not by_partition:
            return
        calls = [
            ScriptCall(_ACK, [partition.stream, partition.hits], [GROUP, *pairs])
            for partition, pairs in by_partition.items()
        ]
        with self._unavailable("ack"):
            self._pipelined(calls)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        index, entry_id = self._locate(delivery.tag)
        partition = self._partitions[index]
        with self._unavailable("dead-letter"):
            keys = [partition.stream, partition.hits, partition.dead]
            self._run(self._client(), _DEAD_LETTER, keys, [GROUP, entry_id, reason, delivery.payload, delivery.hits])

    def _locate(self, tag: str) -> tuple[int, str]:
        """The partition and entry id of a delivery's tag ``<partition>:<entry id>``."""
        index, _, entry_id = tag.partition(":")
        if not index.isdigit() or int(index) >= len(self._partitions) or not _ENTRY_ID.match(entry_id):
            raise ValueError(f"{tag!r} is not a tag of this redis queue ({len(self._partitions)} partitions)")
        return int(index), entry_id

    # -- dead letters

    def dead_letters(self) -> list[DeadLetter]:
        with self._unavailable("list dead letters"), self._client().pipeline(transaction=False) as pipe:
            for partition in self._partitions:
                pipe.xrange(partition.dead)
            answers = pipe.execute()
        letters = [
            DeadLetter(
                f"{partition.index}:{_text(letter_id)}",
                fields[b"payload"],
                int(fields[b"hits"]),
                _text(fields[b"reason"]),
                _entry_time(_text(letter_id)),
            )
            for partition, letters in zip(self._partitions, answers, strict=True)
            for letter_id, fields in letters
        ]
        return sorted(letters, key=lambda letter: (letter.failed_at, letter.tag))

    def replay_dead_letter(self, tag: str) -> bool:
        try:
            index, letter_id = self._locate(tag)
        except ValueError:
            return False
        partition = self._partitions[index]
        with self._unavailable("replay dead letter"):
            keys = [partition.stream, partition.hits, partition.dead]
            replayed = self._write(_REPLAY, keys, [letter_id, self._share])
        if replayed == -1:
            raise QueueFull(f"redis queue {self._where}: partition {index} is full (HITCOUNT_REDIS_MAX_BACKLOG)")
        return bool(replayed)

    def drop_dead_letter(self, tag: str) -> bool:
        try:
            index, letter_id = self._locate(tag)
        except ValueError:
            return False
        with self._unavailable("drop dead letter"):
            # One XDEL on one partition's dead-letter stream: atomic as it is, and no counter
            # holds dead letters (``hits`` counts the stream's backlog only), so no script.
            return bool(self._client().xdel(self._partitions[index].dead, letter_id))

    # -- observing

    def backlog(self) -> Backlog:
        calls = [ScriptCall(_BACKLOG, [partition.stream, partition.hits], []) for partition in self._partitions]
        with self._unavailable("backlog"):
            answers = self._pipelined(calls)
        oldest = [_entry_time(_text(first)) for _, _, first in answers if first]
        return Backlog(
            sum(int(entries) for entries, _, _ in answers),
            sum(int(hits) for _, hits, _ in answers),
            min(oldest, default=None),
        )

    def health(self) -> Health:
        """Reachable, the group in place, and no Redis setting that loses batches (else not ok, saying why)."""
        try:
            with self._unavailable("health check"):
                self._ensure_groups()
                by_server = self._persistence()
                spread = self._spread()
        except QueueUnavailable as error:
            return Health(False, str(error))
        shown = "; ".join(
            f"{server}{', '.join(f'{name} {value}' for name, value in settings.items())}"
            for server, settings in by_server.items()
        )
        detail = f"redis queue {self._where}: {len(self._partitions)} partition(s){spread}, group {GROUP!r}, {shown}"
        risks = [f"{server}{risk}" for server, settings in by_server.items() for risk in persistence.risks(settings)]
        if risks:
            return Health(False, f"{detail}; not durable: {'; '.join(risks)}")
        return Health(True, detail)

    def _spread(self) -> str:
        """On a cluster, how many of its masters hold partitions, and a warning when not all do: the
        others take no share of the load, and a master lost refuses its partitions' publishes until
        its replica is replaced, with no other master to take them."""
        client = self._client()
        if not isinstance(client, RedisCluster):
            return ""
        masters = len(client.get_primaries())  # type: ignore[no-untyped-call]
        used = len({client.get_node_from_key(partition.stream).name for partition in self._partitions})  # type: ignore[no-untyped-call]
        if used < masters:
            return (
                f" on {used} of the cluster's {masters} masters (set HITCOUNT_REDIS_PARTITIONS to at least"
                f" {2 * masters} to use them all)"
            )
        return f" on all {masters} masters of the cluster"

    def _persistence(self) -> dict[str, dict[str, str]]:
        """The persistence settings of the server, or of each master of a cluster (``"host:port: "`` before
        each): a cluster whose one master runs without its append-only file loses that master's batches."""
        client = self._client()
        if not isinstance(client, RedisCluster):
            return {"": persistence.read_settings(client)}
        masters = client.get_primaries()  # type: ignore[no-untyped-call]
        return {f"{node.name}: ": persistence.read_settings(node.redis_connection) for node in masters}

    def data_losses(self) -> int:
        return self._losses

    def _pipelined(self, calls: Sequence[ScriptCall]) -> list[Any]:
        """Run script calls in one round trip; only for scripts that may run twice harmlessly.

        redis-py's pipelines send ``SCRIPT EXISTS`` for their scripts before every execute,
        a second round trip on every acknowledgement. Here each call is a
        plain ``EVALSHA``; when Redis has lost the scripts (it restarted), they are loaded
        and the whole pipeline runs again, which is why its scripts must be idempotent.
        redis-py's cluster pipelines refuse scripts: on a cluster, the calls run one by one.
        """
        client = self._client()
        if isinstance(client, RedisCluster):
            return [self._run(client, call.script, call.keys, call.args) for call in calls]

        def run() -> list[Any]:
            with client.pipeline(transaction=False) as pipe:
                for call in calls:
                    pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
                return pipe.execute()

        try:
            return run()
        except redis.exceptions.NoScriptError:
            for script in {call.script.sha: call.script for call in calls}.values():
                client.script_load(script.text)
        return run()

    @staticmethod
    def _run(client: Client, lua: Lua, keys: list[str], args: Sequence[str | int | bytes]) -> Any:
        """Run ``lua`` by its SHA1, by its text when Redis lacks it (it restarted, or failed over)."""
        try:
            return client.evalsha(lua.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return client.eval(lua.text, len(keys), *keys, *args)

    def _write(self, lua: Lua, keys: list[str], args: Sequence[str | int | bytes]) -> Any:
        """Run a script that adds batches; with replicas to wait for, answer only once they have its effect."""
        connection = self._connection()
        needed = self._min_replicas
        if needed is None:
            needed = 1 if connection.topology.replicated else 0
        if needed == 0:
            return self._run(connection.client, lua, keys, args)

        def on(master: redis.Redis) -> list[Any]:
            # WAIT counts the replicas that have this connection's writes: the script and the
            # WAIT must share one connection, which a pipeline of the master's own client does.
            with master.pipeline(transaction=False) as pipe:
                pipe.evalsha(lua.sha, len(keys), *keys, *args)
                pipe.wait(needed, self._wait_ms)
                return pipe.execute()

        def run() -> list[Any]:
            master = self._master(connection, keys[0])
            try:
                return on(master)
            except redis.exceptions.NoScriptError:
                master.script_load(lua.text)
                return on(master)

        try:
            answer, confirmed = run()
        except redis.exceptions.MovedError:
            # The slot has moved to another master (resharding), which the master's own client
            # does not follow as the cluster client would: the script did not run; once more there.
            self._connector.follow_topology()
            answer, confirmed = run()
        if answer and confirmed < needed:
            raise QueueUnavailable(
                f"redis queue {self._where}: {confirmed} of the HITCOUNT_REDIS_MIN_REPLICAS={needed} replicas"
                f" confirmed within {self._wait_ms} ms; refused (it may still be delivered)"
            )
        return answer

    @staticmethod
    def _master(connection: Connection, key: str) -> redis.Redis:
        """The client of the master holding ``key``: the server itself, or the cluster's node of its slot."""
        client = connection.client
        if isinstance(client, RedisCluster):
            return cast(redis.Redis, client.get_node_from_key(key).redis_connection)  # type: ignore[no-untyped-call]
        return client

    def _connection(self) -> Connection:
        return self._connector.get()

    def _client(self) -> Client:
        return self._connector.get().client

    def close(self) -> None:
        self._connector.close()

    def _unavailable(self, action: str) -> AbstractContextManager[None]:
        """The client's errors as :class:`QueueUnavailable` naming the server and the action."""
        return unavailable(QueueUnavailable, f"redis queue {self._where}", action, self._connector)
