"""The embedded ``sqlite`` queue: a table of batches with leases, safe across processes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hitcount.core.backends.sqlite import BUSY_TIMEOUT, SYNCHRONOUS, Database, Synchronous
from hitcount.core.config import Config
from hitcount.core.errors import QueueUnavailable
from hitcount.core.health import Health
from hitcount.core.markers import hookimpl
from hitcount.core.queue import VISIBILITY_TIMEOUT, Backlog, DeadLetter, Delivery, Queue
from hitcount.core.registry import Registry
from hitcount.core.settings import DATA_DIR
from hitcount.core.visitors import SALT_DAYS_KEPT, new_salt

if TYPE_CHECKING:
    from typing_extensions import Self

SCHEMA = """
create table if not exists batches (
    seq integer primary key autoincrement,
    payload blob not null,
    hits integer not null,
    published_at real not null,
    visible_at real not null default 0,  -- leased until then; 0 = never delivered
    attempts integer not null default 0
);
create index if not exists batches_visible on batches (visible_at, seq);
create table if not exists dead_letters (
    seq integer primary key,
    payload blob not null,
    hits integer not null,
    reason text not null,
    failed_at real not null
);
create table if not exists salts (day integer primary key, salt blob not null);
"""
# How often an idle consumer looks for new batches: SQLite has no notification.
POLL_INTERVAL = 0.05


class SqliteQueue(Queue):
    """Batches are rows of ``queue.sqlite3`` in ``directory``; consuming leases rows until ``visible_at``,
    acknowledging deletes them."""

    def __init__(
        self,
        directory: Path,
        *,
        visibility_timeout: float,
        synchronous: Synchronous = SYNCHRONOUS,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self._database = Database(
            directory / "queue.sqlite3",
            SCHEMA,
            QueueUnavailable,
            synchronous=synchronous,
            busy_timeout=busy_timeout,
        )
        self._visibility_timeout = visibility_timeout

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """The queue of ``HITCOUNT_DATA_DIR``, leasing batches for ``HITCOUNT_QUEUE_VISIBILITY_TIMEOUT``."""
        return cls(config.get(DATA_DIR), visibility_timeout=config.get(VISIBILITY_TIMEOUT))

    def publish(self, payload: bytes, hits: int) -> None:
        with self._database.transaction() as connection:
            connection.execute(
                "insert into batches (payload, hits, published_at) values (?, ?, ?)", (payload, hits, time.time())
            )

    def consume(self, consumer: str, max_batches: int, wait: float) -> list[Delivery]:
        deadline = time.monotonic() + wait
        while True:
            deliveries = self._lease(max_batches)
            if deliveries or time.monotonic() >= deadline:
                return deliveries
            time.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))

    def _lease(self, max_batches: int) -> list[Delivery]:
        now = time.time()
        with self._database.transaction() as connection:
            rows = connection.execute(
                """update batches set visible_at = ?, attempts = attempts + 1
                   where seq in (select seq from batches where visible_at <= ? order by seq limit ?)
                   returning seq, payload, hits, published_at, attempts""",
                (now + self._visibility_timeout, now, max_batches),
            ).fetchall()
        rows.sort()
        return [
            Delivery(str(seq), payload, hits, published, attempts) for seq, payload, hits, published, attempts in rows
        ]

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        with self._database.transaction() as connection:
            connection.executemany("delete from batches where seq = ?", [(int(d.tag),) for d in deliveries])

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        with self._database.transaction() as connection:
            deleted = connection.execute("delete from batches where seq = ?", (int(delivery.tag),)).rowcount
            if deleted:
                connection.execute(
                    "insert into dead_letters values (?, ?, ?, ?, ?)",
                    (int(delivery.tag), delivery.payload, delivery.hits, reason, time.time()),
                )

    def dead_letters(self) -> list[DeadLetter]:
        with self._database.reading() as connection:
            rows = connection.execute("select seq, payload, hits, reason, failed_at from dead_letters order by seq")
            return [DeadLetter(str(seq), payload, hits, reason, failed) for seq, payload, hits, reason, failed in rows]

    def replay_dead_letter(self, tag: str) -> bool:
        if not tag.isdigit():  # not a tag this queue gives
            return False
        with self._database.transaction() as connection:
            row = connection.execute(
                "delete from dead_letters where seq = ? returning payload, hits", (int(tag),)
            ).fetchone()
            if row is None:
                return False
            connection.execute(
                "insert into batches (payload, hits, published_at) values (?, ?, ?)", (row[0], row[1], time.time())
            )
        return True

    def drop_dead_letter(self, tag: str) -> bool:
        if not tag.isdigit():  # not a tag this queue gives
            return False
        with self._database.transaction() as connection:
            return connection.execute("delete from dead_letters where seq = ?", (int(tag),)).rowcount > 0

    def salt(self, day: int) -> bytes | None:
        """The day's salt from the ``salts`` table, made in the transaction that deletes the old ones
        (SQLite's write lock makes every process agree on the first salt made)."""
        with self._database.transaction() as connection:
            connection.execute("delete from salts where day <= ?", (day - SALT_DAYS_KEPT,))
            connection.execute("insert or ignore into salts values (?, ?)", (day, new_salt()))
            (salt,) = connection.execute("select salt from salts where day = ?", (day,)).fetchone()
        return bytes(salt)

    def backlog(self) -> Backlog:
        with self._database.reading() as connection:
            batches, hits, oldest = connection.execute(
                "select count(*), coalesce(sum(hits), 0), min(published_at) from batches"
            ).fetchone()
        return Backlog(batches, hits, oldest)

    def held(self) -> tuple[int, int]:
        """The hits and the payload bytes of the batches waiting (dead letters aside), in one pass:
        what bounds on how much a file may hold are checked against."""
        with self._database.reading() as connection:
            hits, size = connection.execute(
                "select coalesce(sum(hits), 0), coalesce(sum(length(payload)), 0) from batches"
            ).fetchone()
        return int(hits), int(size)

    def health(self) -> Health:
        return self._database.health("queue", "batches")

    def close(self) -> None:
        self._database.close()


@hookimpl
def hitcount_register_backends(registry: Registry) -> None:
    """The ``sqlite`` queue."""
    # SQLite's C library holds the process while it waits for a lock or the disk.
    registry.add_queue("sqlite", SqliteQueue.from_config, blocking=True)
