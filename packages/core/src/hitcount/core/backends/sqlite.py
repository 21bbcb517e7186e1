"""What the embedded ``sqlite`` backends share: how a database file is opened and written."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from hitcount.core.errors import HitcountError
from hitcount.core.health import Health

# SQLite's synchronous pragma: FULL survives power loss, NORMAL only a crash of the process.
Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
SYNCHRONOUS: Synchronous = "FULL"
# How long a write waits for another process's write lock before failing, in seconds.
BUSY_TIMEOUT = 5.0


def run_script(connection: sqlite3.Connection, script: str) -> None:
    """Execute ``;``-separated statements inside the current transaction.

    ``executescript`` would commit the open transaction first, so it cannot be used there.
    """
    for statement in script.split(";\n"):
        if statement.strip():
            connection.execute(statement)


class Database:
    """One WAL-mode SQLite file used by several threads and processes.

    WAL lets readers work while one writer commits, and the busy timeout makes writers
    from other processes wait their turn instead of failing; one connection per
    instance, serialized by a lock, is enough because each transaction is short.
    Whatever SQLite raises, while opening or in :meth:`transaction` and :meth:`reading`,
    comes out as the backend's ``unavailable`` error of :mod:`hitcount.core.errors`.
    """

    def __init__(
        self,
        path: Path,
        schema: str,
        unavailable: type[HitcountError],
        *,
        synchronous: Synchronous,
        busy_timeout: float,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._unavailable = unavailable
        self._lock = threading.Lock()
        self._busy_timeout = busy_timeout
        with self._errors():
            self._connection = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._use_wal()
            self._connection.execute(f"pragma synchronous={synchronous}")
        with self.transaction() as connection:
            run_script(connection, schema)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's errors as the backend's ``unavailable`` error (core's, which callers handle).

        A locked, full, unreadable or damaged file is a state of the database, not of the
        batch at hand: the API answers 503 and the indexer retries, and nothing is
        dead-lettered for it.
        """
        try:
            yield
        except sqlite3.Error as error:
            raise self._unavailable(f"sqlite {self.path}: {error}") from error

    def _use_wal(self) -> None:
        """Switch the file to WAL once; the mode is persistent, so later openers only read it.

        While another process is creating or converting the file, even reading the mode
        meets a lock, so the whole check is retried.
        """

        def switch() -> None:
            if self._connection.execute("pragma journal_mode").fetchone()[0] != "wal":
                self._connection.execute("pragma journal_mode=wal")

        self._retrying(switch)

    def _begin(self) -> None:
        """``begin immediate`` (take the write lock), waiting for it in :meth:`_retrying`, not in SQLite."""
        self._connection.execute("pragma busy_timeout = 0")
        try:
            self._retrying(lambda: self._connection.execute("begin immediate"))
        finally:
            self._connection.execute(f"pragma busy_timeout = {round(self._busy_timeout * 1000)}")

    def _retrying(self, statement: Callable[[], object]) -> None:
        """Run ``statement`` until it gets its lock, or the busy timeout passes.

        SQLite's busy handler sleeps longer and longer between tries, so a writer waiting
        behind processes that commit back to back (API workers under load) can starve until
        it fails; short, jittered retries get their turn.
        """
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                statement()
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.0002, 0.002))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the write lock (``begin immediate``) for the block; commit on success, roll back on error.

        A commit that fails (the file locked past the busy timeout, the disk full) is rolled
        back too: a transaction left open would make every later ``begin`` fail.
        """
        with self._lock, self._errors():
            self._begin()
            try:
                yield self._connection
                self._connection.execute("commit")
            except BaseException:
                if self._connection.in_transaction:
                    self._connection.execute("rollback")
                raise

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads, which WAL serves from a consistent snapshot per statement."""
        with self._lock, self._errors():
            yield self._connection

    def health(self, kind: str, table: str) -> Health:
        """Whether the file can be written and ``table`` read now, as the health of the sqlite ``kind``.

        Readers of a WAL file go on while another process holds its write lock, so a read
        alone would say ok while every publish and write fails; the check takes the write
        lock (waiting up to the busy timeout, as writes do) and writes nothing.
        """
        try:
            with self.transaction() as connection:
                connection.execute(f"select 1 from {table} limit 1").fetchall()
        except HitcountError as error:
            return Health(False, str(error))
        return Health(True, f"sqlite {kind} {self.path}")

    def close(self) -> None:
        with self._lock:
            self._connection.close()
