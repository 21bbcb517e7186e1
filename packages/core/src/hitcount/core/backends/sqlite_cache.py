"""The embedded ``sqlite`` counts cache: one row per id in ``cache.sqlite3``, shared by the host's processes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from hitcount.core.backends.sqlite import BUSY_TIMEOUT, SYNCHRONOUS, Database, Synchronous
from hitcount.core.cache import CACHE_TTL, CountsCache, age, decode_counts, encode_counts
from hitcount.core.config import Config
from hitcount.core.errors import CacheUnavailable
from hitcount.core.health import Health
from hitcount.core.markers import hookimpl
from hitcount.core.registry import Registry
from hitcount.core.settings import DATA_DIR
from hitcount.core.windows import NS_PER_SECOND, Counts

if TYPE_CHECKING:
    from typing_extensions import Self

SCHEMA = """
create table if not exists counts (id text primary key, computed_ns integer not null, data blob not null) without rowid;
create index if not exists counts_computed on counts (computed_ns);
"""
# Expired rows are deleted by a put now and then, so that the file stays as small as the ids read in one TTL.
SWEEP_INTERVAL = 60.0


class SqliteCache(CountsCache):
    """Counts in ``cache.sqlite3`` in ``directory``, beside the embedded queue and store; every API worker of
    the host shares it."""

    def __init__(
        self, directory: Path, *, synchronous: Synchronous = SYNCHRONOUS, busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        self._database = Database(
            directory / "cache.sqlite3", SCHEMA, CacheUnavailable, synchronous=synchronous, busy_timeout=busy_timeout
        )
        self._next_sweep = 0.0

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """The cache of ``HITCOUNT_DATA_DIR``."""
        return cls(config.get(DATA_DIR))

    def get(self, id: str) -> Counts | None:
        with self._database.reading() as connection:
            row = connection.execute("select data from counts where id = ?", (id,)).fetchone()
        counts = decode_counts(row[0]) if row else None
        return counts if counts is not None and age(counts) < CACHE_TTL else None

    def put(self, counts: Counts) -> None:
        with self._database.transaction() as connection:
            connection.execute(
                "insert or replace into counts values (?, ?, ?)", (counts.id, counts.now, encode_counts(counts))
            )
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + SWEEP_INTERVAL
                expired = time.time_ns() - int(CACHE_TTL * NS_PER_SECOND)
                connection.execute("delete from counts where computed_ns < ?", (expired,))

    def health(self) -> Health:
        return self._database.health("cache", "counts")

    def close(self) -> None:
        self._database.close()


@hookimpl
def hitcount_register_backends(registry: Registry) -> None:
    """The ``sqlite`` cache."""
    # SQLite's C library holds the process while it waits for a lock or the disk.
    registry.add_cache("sqlite", SqliteCache.from_config, blocking=True)
