"""What is particular to the embedded sqlite backends: minute buckets and several processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitcount.core import Counts, Hit, QueueUnavailable, StoreUnavailable, now_ns
from hitcount.core.backends.sqlite_queue import SqliteQueue
from hitcount.core.backends.sqlite_store import SqliteStore
from hitcount.core.queue import Delivery
from hitcount.core.rollups import seal_line
from hitcount.core.windows import NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE, WINDOWS
from hitcount.core.wire import decode_batch, encode_batch

VISIBILITY = 30.0
NOW = 1_800_000_000 * 10**9 + 123_456_789
EDGES = sorted({NOW, NOW - NOW % NS_PER_MINUTE} | {NOW - window.length for window in WINDOWS})
# Timestamps clustered on the window edges and minute boundaries, where bucketing can go wrong.
timestamps = st.one_of(
    st.sampled_from(EDGES).flatmap(lambda edge: st.integers(edge - 2 * NS_PER_MINUTE, edge + 2 * NS_PER_MINUTE)),
    st.sampled_from(EDGES).flatmap(lambda edge: st.sampled_from([edge - 1, edge, edge + 1])),
    st.integers(NOW - 4 * WINDOWS[0].length // 3, NOW + NS_PER_MINUTE),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(timestamps, st.none() | st.integers(-3, 3)), max_size=80), st.integers(0, 2 * NS_PER_MINUTE))
def test_minute_buckets_and_visitors_count_exactly_like_raw_hits(  # type: ignore[no-untyped-def]
    tmp_path_factory, stamped: list[tuple[int, int | None]], shift: int
) -> None:
    store = SqliteStore(tmp_path_factory.mktemp("store"))
    hits = [Hit("x", stamp, visitor=visitor) for stamp, visitor in stamped]
    store.write(hits)
    store.write(hits[: len(hits) // 2])  # a partial redelivery changes nothing
    for now in (NOW, NOW + shift):
        assert store.counts("x", now) == Counts.of_hits("x", now, stamped)
    # Hours sealed (a line among the hits), and their hits deleted: the same answers.
    store.seal(NOW - WINDOWS[0].length)
    store.purge(NOW - WINDOWS[0].length)  # up to the seal line, an hour boundary
    line = NOW - WINDOWS[0].length
    store.write([hit for hit in hits[::3] if hit.timestamp >= line - line % 3_600_000_000_000])  # copies of kept hits
    for now in (NOW, NOW + shift):
        assert store.counts("x", now).total == Counts.of_hits("x", now, stamped).total
    store.close()


def _publish(data_dir: str, worker: int) -> None:
    queue = SqliteQueue(Path(data_dir), visibility_timeout=VISIBILITY)
    for number in range(100):
        queue.publish(encode_batch([Hit(f"w{worker}-{number}", 1)]), 1)
    queue.close()


def test_several_processes_publish_while_another_consumes(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    publishers = [context.Process(target=_publish, args=(str(tmp_path), worker)) for worker in range(3)]
    for process in publishers:
        process.start()
    queue = SqliteQueue(tmp_path, visibility_timeout=VISIBILITY)
    seen: list[str] = []
    while len(seen) < 300:
        deliveries = queue.consume("consumer", 50, 5.0)
        assert deliveries or any(process.is_alive() for process in publishers), "publishers ended short"
        seen += [hit.id for delivery in deliveries for hit in decode_batch(delivery.payload)]
        queue.ack(deliveries)
    for process in publishers:
        process.join(30)
        assert process.exitcode == 0
    assert sorted(seen) == sorted(f"w{worker}-{number}" for worker in range(3) for number in range(100))
    assert queue.backlog().batches == 0
    queue.close()


def test_the_data_directory_is_created_when_missing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b" / "store.sqlite3").exists()
    store.close()


def _queue(data_dir: str) -> SqliteQueue:
    return SqliteQueue(Path(data_dir), visibility_timeout=VISIBILITY, busy_timeout=1.0)


def _publish_until(data_dir: str, stop: Any) -> None:
    queue = _queue(data_dir)
    while not stop.is_set():
        queue.publish(b"busy", 1)
    queue.close()


def _open_publish_consume(data_dir: str) -> None:
    for _ in range(20):
        queue = _queue(data_dir)
        queue.publish(b"mine", 1)
        queue.ack(queue.consume("c", 10, 0.0))
        queue.close()


def test_writers_get_their_turn_while_others_commit_back_to_back(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    busy = [context.Process(target=_publish_until, args=(str(tmp_path), stop)) for _ in range(2)]
    for process in busy:
        process.start()
    others = [context.Process(target=_open_publish_consume, args=(str(tmp_path),)) for _ in range(4)]
    for process in others:
        process.start()
    for process in others:
        process.join(120)
    stop.set()
    for process in busy:
        process.join(30)
    assert [process.exitcode for process in others] == [0] * 4


LEASED = Delivery("2", b"leased", 1, 0.0)
# Every Queue method, called on a queue holding one leased batch and one dead letter.
QUEUE_CALLS: dict[str, Callable[[SqliteQueue], object]] = {
    "publish": lambda queue: queue.publish(b"more", 1),
    "consume": lambda queue: queue.consume("c", 1, 0.0),
    "ack": lambda queue: queue.ack([LEASED]),
    "dead_letter": lambda queue: queue.dead_letter(LEASED, "bad"),
    "dead_letters": lambda queue: queue.dead_letters(),
    "replay_dead_letter": lambda queue: queue.replay_dead_letter("1"),
    "backlog": lambda queue: queue.backlog(),
}
WRITING = ("publish", "consume", "ack", "dead_letter", "replay_dead_letter")


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[SqliteQueue]:
    queue = SqliteQueue(tmp_path, visibility_timeout=VISIBILITY, busy_timeout=0.1)
    queue.publish(b"dead", 1)
    queue.publish(b"leased", 1)
    dead, leased = queue.consume("c", 2, 0.0)
    assert leased.tag == LEASED.tag
    queue.dead_letter(dead, "undecodable")
    yield queue
    queue.close()


@pytest.mark.parametrize("method", WRITING)
def test_a_locked_sqlite_queue_raises_queue_unavailable_and_works_once_the_lock_is_gone(
    tmp_path: Path, queue: SqliteQueue, method: str
) -> None:
    holder = sqlite3.connect(tmp_path / "queue.sqlite3", isolation_level=None)
    holder.execute("begin immediate")  # another process's write lock, held past the busy timeout
    try:
        with pytest.raises(QueueUnavailable, match="database is locked"):
            QUEUE_CALLS[method](queue)
    finally:
        holder.close()
    QUEUE_CALLS[method](queue)  # no transaction was left open


@pytest.mark.parametrize("method", QUEUE_CALLS)
def test_every_sqlite_queue_method_raises_queue_unavailable_for_a_sqlite_error(queue: SqliteQueue, method: str) -> None:
    queue.close()
    with pytest.raises(QueueUnavailable, match="closed database"):
        QUEUE_CALLS[method](queue)
    assert not queue.health().ok


@pytest.mark.parametrize(
    "call",
    [lambda store: store.write([Hit("x", NOW)]), lambda store: store.counts("x", NOW), lambda store: store.purge(NOW)],
    ids=["write", "counts", "purge"],
)
def test_every_sqlite_store_method_raises_store_unavailable_for_a_sqlite_error(
    tmp_path: Path, call: Callable[[SqliteStore], object]
) -> None:
    store = SqliteStore(tmp_path)
    store.close()
    with pytest.raises(StoreUnavailable, match="closed database"):
        call(store)
    assert not store.health().ok


def test_a_store_keyed_on_uid_alone_is_rekeyed_and_its_hits_still_count_once(tmp_path: Path) -> None:
    # A file of the previous version: hits keyed on their uid alone, so a uid reused for a
    # second id dropped that id's hit. Its rows keep counting once when delivered again.
    stored = Hit("page", NOW - 1)
    old = sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)
    old.executescript(
        "create table hits (uid blob primary key, id text not null, ts integer not null) without rowid;"
        "create index hits_id_ts on hits (id, ts);"
        "create table minute_counts (id text not null, minute integer not null, count integer not null,"
        " primary key (id, minute)) without rowid;"
    )
    old.execute("insert into hits values (?, ?, ?)", (stored.uid, stored.id, stored.timestamp))
    old.execute("insert into minute_counts values (?, ?, 1)", (stored.id, stored.timestamp // NS_PER_MINUTE))
    old.close()
    store = SqliteStore(tmp_path)
    store.write([stored, Hit("other", NOW - 2, stored.uid)])
    assert store.counts("page", NOW).values == (1,) * len(WINDOWS)
    assert store.counts("other", NOW).values == (1,) * len(WINDOWS)
    store.close()


def _seal_forever(data_dir: str, now: int, ready: Any) -> None:
    """Seal one more hour again and again (each a transaction of many rows) until killed."""
    store = SqliteStore(Path(data_dir))
    ready.set()
    line = seal_line(now) - 48 * NS_PER_HOUR
    while True:
        store.seal(line)
        line += NS_PER_HOUR


def test_a_seal_killed_midway_leaves_every_total_exact(tmp_path: Path) -> None:
    now = now_ns()
    store = SqliteStore(tmp_path)
    # 200 ids, a hit every 7 minutes each over 6 to 3 days ago: many rows an hour to seal.
    start = now - 6 * NS_PER_DAY
    hits = [Hit(f"id{n}", start + step * 7 * NS_PER_MINUTE + n) for step in range(620) for n in range(200)]
    for first in range(0, len(hits), 20_000):
        store.write(hits[first : first + 20_000])
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    for _ in range(3):
        sealer = context.Process(target=_seal_forever, args=(str(tmp_path), now, ready))
        sealer.start()
        assert ready.wait(30)
        time.sleep(0.3)
        os.kill(sealer.pid or 0, signal.SIGKILL)
        sealer.join()
        ready.clear()
        for n in (0, 99, 199):
            assert store.counts(f"id{n}", now).total == 620
    store.seal(seal_line(now))
    store.purge(now - 4 * NS_PER_DAY)
    assert [store.counts(f"id{n}", now).total for n in (0, 99, 199)] == [620] * 3
    store.close()
