"""In-process ``memory`` queue, store and counts cache, for tests, experiments and the API's own copy.

Instances opened with the same ``namespace`` in one process share their data, the way two
connections to one server do; nothing survives the process. Those a plugin's factory opens
(``HITCOUNT_QUEUE=memory``...) are all of :data:`DEFAULT_NAMESPACE`; a test or a component
that wants data of its own opens them with a namespace of its own.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hitcount.core.cache import CACHE_TTL, CountsCache, age
from hitcount.core.config import Config
from hitcount.core.health import Health
from hitcount.core.hit import Hit
from hitcount.core.hours import Hours
from hitcount.core.markers import hookimpl
from hitcount.core.queue import VISIBILITY_TIMEOUT, Backlog, DeadLetter, Delivery, Queue
from hitcount.core.ranking import ranked
from hitcount.core.registry import Registry
from hitcount.core.store import HitStore
from hitcount.core.visitors import SALT_DAYS_KEPT, new_salt
from hitcount.core.windows import NS_PER_HOUR, Counts, Window

if TYPE_CHECKING:
    from typing_extensions import Self

DEFAULT_NAMESPACE = "default"
# Most ids whose counts a memory cache keeps (each API worker keeps one as its last fallback).
CACHE_MAX_IDS = 10_000


@dataclass
class _Entry:
    payload: bytes
    hits: int
    published_at: float
    visible_at: float = 0.0
    attempts: int = 0


class _Broker:
    """The shared state behind every MemoryQueue of one namespace."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.entries: dict[int, _Entry] = {}
        self.dead: dict[int, DeadLetter] = {}
        self.sequence = itertools.count(1)
        self.salts: dict[int, bytes] = {}


class _Shelf:
    """The shared state behind every MemoryStore of one namespace."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: set[tuple[str, bytes]] = set()  # (id, uid): a hit is counted once
        self.hits: dict[str, list[tuple[int, int | None]]] = defaultdict(list)  # id: (timestamp, visitor)
        self.buckets: dict[tuple[str, int], int] = {}  # (id, hour since 1970): hits, for sealed hours
        self.sealed = 0  # the seal line (ns): every hour before it has its buckets
        self.purged = 0  # hits before this (ns) were deleted by retention


class _Drawer:
    """The shared state behind every MemoryCache of one namespace: the most recently put ids last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[str, Counts] = OrderedDict()


_brokers: defaultdict[str, _Broker] = defaultdict(_Broker)
_shelves: defaultdict[str, _Shelf] = defaultdict(_Shelf)
_drawers: defaultdict[str, _Drawer] = defaultdict(_Drawer)


class MemoryQueue(Queue):
    """A queue in a dict, with leases that expire after the visibility timeout."""

    def __init__(self, namespace: str = DEFAULT_NAMESPACE, *, visibility_timeout: float = 30.0) -> None:
        self._broker = _brokers[namespace]
        self._visibility_timeout = visibility_timeout

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """The queue of the default namespace, leasing batches for ``HITCOUNT_QUEUE_VISIBILITY_TIMEOUT``."""
        return cls(visibility_timeout=config.get(VISIBILITY_TIMEOUT))

    def publish(self, payload: bytes, hits: int) -> None:
        with self._broker.condition:
            self._broker.entries[next(self._broker.sequence)] = _Entry(payload, hits, time.time())
            self._broker.condition.notify_all()

    def consume(self, consumer: str, max_batches: int, wait: float) -> list[Delivery]:
        deadline = time.monotonic() + wait
        with self._broker.condition:
            while True:
                now = time.time()
                taken: list[Delivery] = []
                for seq, entry in self._broker.entries.items():
                    if len(taken) == max_batches:
                        break
                    if entry.visible_at <= now:
                        entry.visible_at = now + self._visibility_timeout
                        entry.attempts += 1
                        taken.append(Delivery(str(seq), entry.payload, entry.hits, entry.published_at, entry.attempts))
                remaining = deadline - time.monotonic()
                if taken or remaining <= 0:
                    return taken
                leased = [entry.visible_at - now for entry in self._broker.entries.values()]
                self._broker.condition.wait(min([remaining, *leased]))

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        with self._broker.condition:
            for delivery in deliveries:
                self._broker.entries.pop(int(delivery.tag), None)

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        with self._broker.condition:
            if self._broker.entries.pop(int(delivery.tag), None) is not None:
                self._broker.dead[int(delivery.tag)] = DeadLetter(
                    delivery.tag, delivery.payload, delivery.hits, reason, time.time()
                )

    def dead_letters(self) -> list[DeadLetter]:
        with self._broker.condition:
            return list(self._broker.dead.values())

    def replay_dead_letter(self, tag: str) -> bool:
        letter = self._pop_dead_letter(tag)
        if letter is None:
            return False
        self.publish(letter.payload, letter.hits)
        return True

    def drop_dead_letter(self, tag: str) -> bool:
        return self._pop_dead_letter(tag) is not None

    def _pop_dead_letter(self, tag: str) -> DeadLetter | None:
        if not tag.isdigit():  # not a tag this queue gives
            return None
        with self._broker.condition:
            return self._broker.dead.pop(int(tag), None)

    def salt(self, day: int) -> bytes | None:
        with self._broker.condition:
            for old in [old for old in self._broker.salts if old <= day - SALT_DAYS_KEPT]:
                del self._broker.salts[old]
            return self._broker.salts.setdefault(day, new_salt())

    def backlog(self) -> Backlog:
        with self._broker.condition:
            entries = list(self._broker.entries.values())
        return Backlog(
            len(entries),
            sum(entry.hits for entry in entries),
            min((entry.published_at for entry in entries), default=None),
        )

    def health(self) -> Health:
        return Health(True, "in-process memory queue")


class MemoryStore(HitStore):
    """Hits in a dict; counts scan the id's timestamps (fine for tests, linear in hits), totals its
    hourly buckets too."""

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._shelf = _shelves[namespace]

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """The store of the default namespace."""
        return cls()

    def write(self, hits: Sequence[Hit]) -> None:
        shelf = self._shelf
        with shelf.lock:
            for hit in hits:
                key = (hit.id, hit.uid)
                if key not in shelf.keys:
                    shelf.keys.add(key)
                    shelf.hits[hit.id].append((hit.timestamp, hit.visitor))
                    if hit.timestamp < shelf.sealed:  # late, for a sealed hour: its bucket takes it
                        bucket = (hit.id, hit.timestamp // NS_PER_HOUR)
                        shelf.buckets[bucket] = shelf.buckets.get(bucket, 0) + 1

    def counts(self, id: str, now: int) -> Counts:
        shelf = self._shelf
        with shelf.lock:
            hits = list(shelf.hits.get(id, ()))
            # Buckets up to the seal line (or now's hour, for a ``now`` before it), raw hits from there.
            edge = min(shelf.sealed, now // NS_PER_HOUR * NS_PER_HOUR)
            sealed = sum(n for (of, hour), n in shelf.buckets.items() if of == id and hour * NS_PER_HOUR < edge)
        counts = Counts.of_hits(id, now, hits)
        raw = sum(1 for timestamp, _ in hits if edge <= timestamp <= now)
        return dataclasses.replace(counts, total=sealed + raw)

    def hours(self, id: str, now: int) -> Hours:
        with self._shelf.lock:
            return Hours.of_timestamps(id, now, [timestamp for timestamp, _ in self._shelf.hits.get(id, ())])

    def top(self, window: Window | None, now: int, limit: int, prefix: str = "") -> list[tuple[str, int]]:
        with self._shelf.lock:
            ids = [id for id in self._shelf.hits if id.startswith(prefix)]
        return ranked(((id, self.counts(id, now).in_window(window) or 0) for id in ids), limit)

    def seal(self, before: int) -> int:
        shelf = self._shelf
        with shelf.lock:
            first, end = shelf.sealed // NS_PER_HOUR, before // NS_PER_HOUR
            if end <= first:
                return 0
            written = self._count_hours(first, end)
            shelf.sealed = end * NS_PER_HOUR
        return written

    def rebuild(self, since: int) -> int:
        shelf = self._shelf
        with shelf.lock:
            # From the first hour none of whose hits retention deleted.
            return self._count_hours(-(-max(since, shelf.purged) // NS_PER_HOUR), shelf.sealed // NS_PER_HOUR)

    def _count_hours(self, first: int, end: int) -> int:
        """Count every id's hits of the hours [first, end) into their buckets, written over; return how many
        buckets were written. The shelf's lock is held."""
        buckets = self._shelf.buckets
        for bucket in [bucket for bucket in buckets if first <= bucket[1] < end]:
            del buckets[bucket]
        for id, hits in self._shelf.hits.items():
            for timestamp, _ in hits:
                if first <= timestamp // NS_PER_HOUR < end:
                    bucket = (id, timestamp // NS_PER_HOUR)
                    buckets[bucket] = buckets.get(bucket, 0) + 1
        return sum(1 for bucket in buckets if first <= bucket[1] < end)

    def purge(self, before: int) -> int:
        removed = 0
        with self._shelf.lock:
            before = min(before, self._shelf.sealed)
            self._shelf.purged = max(self._shelf.purged, before)
            for id, hits in self._shelf.hits.items():
                kept = [hit for hit in hits if hit[0] >= before]
                removed += len(hits) - len(kept)
                self._shelf.hits[id] = kept
        return removed

    def health(self) -> Health:
        return Health(True, "in-process memory store")


class MemoryCache(CountsCache):
    """The latest counts of at most ``max_ids`` ids, least recently put dropped first.

    With ``namespace=None``, a cache of the instance's own, which no other sees (an API worker's own copy).
    """

    def __init__(self, namespace: str | None = DEFAULT_NAMESPACE, *, max_ids: int = CACHE_MAX_IDS) -> None:
        self._drawer = _Drawer() if namespace is None else _drawers[namespace]
        self._max_ids = max_ids

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """The cache of the default namespace."""
        return cls()

    def get(self, id: str) -> Counts | None:
        with self._drawer.lock:
            counts = self._drawer.entries.get(id)
        return counts if counts is not None and age(counts) < CACHE_TTL else None

    def put(self, counts: Counts) -> None:
        with self._drawer.lock:
            self._drawer.entries[counts.id] = counts
            self._drawer.entries.move_to_end(counts.id)
            while len(self._drawer.entries) > self._max_ids:
                self._drawer.entries.popitem(last=False)

    def health(self) -> Health:
        return Health(True, "in-process memory cache")


@hookimpl
def hitcount_register_backends(registry: Registry) -> None:
    """``memory`` queue, store and cache."""
    # Dictionaries in the process: nothing to wait for, so they are called on the event loop.
    registry.add_queue("memory", MemoryQueue.from_config, shared=False, blocking=False)
    registry.add_store("memory", MemoryStore.from_config, blocking=False)
    registry.add_cache("memory", MemoryCache.from_config, blocking=False)
