"""The embedded ``sqlite`` store: raw hits plus per-minute counts, so reads do not grow with hits.

A window's count is the sum of the per-minute counts of the whole minutes inside it,
plus the raw hits of the partial minutes at its two edges. Per-minute counts are
only ever incremented for hits whose (id, uid) was not yet stored, in the same transaction
that stores them, so redelivered batches leave every count exact.

Visitor keys are kept apart, in ``visitors`` (only for hits that have one): distinct visitors
cannot be summed from minutes, so a window's are counted over its rows, in one scan of the
covering index for all windows. The table of their own also leaves ``hits`` as an earlier
version writes it, so that one still writing during a rolling restart goes on working.

Sealed hours (:mod:`hitcount.core.rollups`) are summed from the per-minute counts into
``hour_counts``, written over, and the seal line kept in ``rollup``, all in one transaction; a
write adds a hit of an hour already sealed to that hour's count in its own transaction. A
total is the id's hourly counts before the line plus its per-minute counts after it.

Files written before hits were keyed on (id, uid) had the uid alone as the key, so that a
uid reused for a second id lost that id's hit; opening such a file rekeys its table once
(:data:`REKEY`). Its rows keep their id and uid, so a hit stored before the upgrade and
delivered again after it still counts once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hitcount.core.backends.sqlite import BUSY_TIMEOUT, SYNCHRONOUS, Database, Synchronous, run_script
from hitcount.core.config import Config
from hitcount.core.errors import StoreUnavailable
from hitcount.core.health import Health
from hitcount.core.hit import Hit
from hitcount.core.hours import HOURS, Hours, first_hour
from hitcount.core.markers import hookimpl
from hitcount.core.registry import Registry
from hitcount.core.settings import DATA_DIR
from hitcount.core.store import HitStore
from hitcount.core.windows import NS_PER_HOUR, NS_PER_MINUTE, WINDOWS, Counts, Window

if TYPE_CHECKING:
    from typing_extensions import Self

SCHEMA = """
create table if not exists hits (
    uid blob not null,
    id text not null,
    ts integer not null,
    primary key (id, uid)
) without rowid;
create index if not exists hits_id_ts on hits (id, ts);
create table if not exists visitors (
    id text not null,
    uid blob not null,
    ts integer not null,
    visitor integer not null,
    primary key (id, uid)
) without rowid;
create index if not exists visitors_id_ts on visitors (id, ts, visitor);
create table if not exists minute_counts (
    id text not null,
    minute integer not null,  -- ts // 60 s
    count integer not null,
    primary key (id, minute)
) without rowid;
create index if not exists minute_counts_minute on minute_counts (minute);
create table if not exists hour_counts (
    id text not null,
    hour integer not null,  -- ts // 3600 s
    count integer not null,
    primary key (id, hour)
) without rowid;
-- One row: the seal line (every hour before it has its counts) and how far retention deleted hits, ns.
create table if not exists rollup (
    row integer primary key check (row = 1),
    sealed integer not null default 0,
    purged integer not null default 0
);
insert or ignore into rollup (row) values (1);
"""
STAGE = """
create temp table if not exists staging (
    uid blob not null,
    id text not null,
    ts integer not null,
    visitor integer,
    primary key (id, uid)
) without rowid;
delete from staging;
"""
COUNT_NEW_HITS = f"""
insert into minute_counts (id, minute, count)
select id, ts / {NS_PER_MINUTE}, count(*) from staging
where not exists (select 1 from hits where hits.id = staging.id and hits.uid = staging.uid)
group by 1, 2
on conflict (id, minute) do update set count = count + excluded.count
"""
SEAL_LINE = "(select sealed from rollup)"
# Hits new to the store for hours already sealed: their hours' counts take them.
COUNT_LATE_HITS = f"""
insert into hour_counts (id, hour, count)
select id, ts / {NS_PER_HOUR}, count(*) from staging
where ts < {SEAL_LINE}
and not exists (select 1 from hits where hits.id = staging.id and hits.uid = staging.uid)
group by 1, 2
on conflict (id, hour) do update set count = count + excluded.count
"""
# Every id's count of each hour in [?, ?) (in minutes), written over what an earlier seal left.
SEAL_HOURS = """
insert into hour_counts (id, hour, count)
select id, minute / 60, sum(count) from minute_counts where minute >= ? and minute < ?
group by 1, 2
on conflict (id, hour) do update set count = excluded.count
"""
SUM_HOURS = "select coalesce(sum(count), 0) from hour_counts where id = ? and hour < ?"
# Every id's count of each hour in [?, ?) (in ns), from its hits.
COUNT_HOURS = f"""
insert into hour_counts (id, hour, count)
select id, ts / {NS_PER_HOUR}, count(*) from hits where ts >= ? and ts < ?
group by 1, 2
"""
# The columns keep their order, so that a process of the previous version still writing
# (its ``insert ... select uid, id, ts``) during a rolling restart puts each value in its place.
REKEY = """
create table hits_by_id_and_uid (
    uid blob not null,
    id text not null,
    ts integer not null,
    primary key (id, uid)
) without rowid;
insert into hits_by_id_and_uid select uid, id, ts from hits;
drop table hits;
alter table hits_by_id_and_uid rename to hits;
create index hits_id_ts on hits (id, ts)
"""
SUM_MINUTES = "select coalesce(sum(count), 0) from minute_counts where id = ? and minute >= ? and minute < ?"
COUNT_RAW = "select count(*) from hits where id = ? and ts > ? and ts <= ?"
# Each id's raw hits of the minute ``:minute`` within [:low, :high]: a window's partial minute at one edge.
_EDGE = """
select id, (select count(*) from hits where hits.id = edge.id and ts >= :{low} and ts <= :{high}) as n
from minute_counts as edge where minute = :{minute}
"""
# The ids of ``:prefix`` with the most of ``parts`` (queries of ``id, n``), most first, then by id.
_RANK = """
select id, sum(n) from ({parts}) where substr(id, 1, length(:prefix)) = :prefix
group by id having sum(n) > 0 order by 2 desc, 1 limit :limit
"""
# A window's count of every id: its whole minutes, and the raw hits of the partial minute at each edge,
# as :meth:`SqliteStore.counts` counts one id (every window holds whole minutes).
RANK_WINDOW = _RANK.format(
    parts=" union all ".join(
        (
            "select id, sum(count) as n from minute_counts where minute >= :first and minute < :last group by id",
            _EDGE.format(low="after_start", high="before_first", minute="low_minute"),
            _EDGE.format(low="last_start", high="now", minute="last"),
        )
    )
)
# Every id's total: as :meth:`SqliteStore._total` counts one id.
RANK_TOTAL = _RANK.format(
    parts=" union all ".join(
        (
            "select id, sum(count) as n from hour_counts where hour < :edge_hour group by id",
            "select id, sum(count) as n from minute_counts where minute >= :edge_minute and minute < :last group by id",
            _EDGE.format(low="last_start", high="now", minute="last"),
        )
    )
)
# An id's hits of each hour from the minute ``?`` to the minute ``?`` (excluded), by hour.
SUM_HOURS_OF_MINUTES = (
    "select minute / 60, sum(count) from minute_counts where id = ? and minute >= ? and minute < ? group by 1"
)
# Distinct visitors of every window (longest first) in one pass over the longest one's rows.
COUNT_VISITORS = (
    "select "
    + ", ".join("count(distinct case when ts > ? then visitor end)" for _ in WINDOWS)
    + " from visitors where id = ? and ts > ? and ts <= ?"
)


class SqliteStore(HitStore):
    """Hits in ``store.sqlite3`` in ``directory``."""

    def __init__(
        self, directory: Path, *, synchronous: Synchronous = SYNCHRONOUS, busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        self._database = Database(
            directory / "store.sqlite3", SCHEMA, StoreUnavailable, synchronous=synchronous, busy_timeout=busy_timeout
        )
        with self._database.transaction() as connection:
            key = [column for _, column, _, _, _, position in connection.execute("pragma table_info(hits)") if position]
            if key == ["uid"]:
                run_script(connection, REKEY)

    @classmethod
    def from_config(cls, config: Config) -> Self:
        """The store of ``HITCOUNT_DATA_DIR``."""
        return cls(config.get(DATA_DIR))

    def write(self, hits: Sequence[Hit]) -> None:
        with self._database.transaction() as connection:
            run_script(connection, STAGE)
            connection.executemany(
                "insert or ignore into staging values (?, ?, ?, ?)",
                [(h.uid, h.id, h.timestamp, h.visitor) for h in hits],
            )
            connection.execute(COUNT_NEW_HITS)
            connection.execute(COUNT_LATE_HITS)
            connection.execute("insert or ignore into hits select uid, id, ts from staging")
            connection.execute(
                "insert or ignore into visitors select id, uid, ts, visitor from staging where visitor is not null"
            )

    def counts(self, id: str, now: int) -> Counts:
        values = []
        with self._database.reading() as connection:
            for window in WINDOWS:
                start = window.start(now)
                first_whole = start // NS_PER_MINUTE + 1  # the minute after the one holding the lower edge
                last_minute = now // NS_PER_MINUTE  # the partial minute holding now
                if first_whole >= last_minute:
                    (count,) = connection.execute(COUNT_RAW, (id, start, now)).fetchone()
                else:
                    (whole,) = connection.execute(SUM_MINUTES, (id, first_whole, last_minute)).fetchone()
                    (low,) = connection.execute(COUNT_RAW, (id, start, first_whole * NS_PER_MINUTE - 1)).fetchone()
                    (high,) = connection.execute(COUNT_RAW, (id, last_minute * NS_PER_MINUTE - 1, now)).fetchone()
                    count = whole + low + high
                values.append(count)
            starts = [window.start(now) for window in WINDOWS]
            visitors = connection.execute(COUNT_VISITORS, (*starts, id, starts[0], now)).fetchone()
            total = self._total(connection, id, now)
        return Counts(id, now, tuple(values), tuple(visitors), total)

    @staticmethod
    def _total(connection: sqlite3.Connection, id: str, now: int) -> int:
        """The hourly counts before the seal line (or now's hour, for a ``now`` before it), then the
        whole minutes from there, then the raw hits of now's minute."""
        (line,) = connection.execute(f"select {SEAL_LINE}").fetchone()
        edge = min(line, now // NS_PER_HOUR * NS_PER_HOUR)
        last_minute = now // NS_PER_MINUTE
        (sealed,) = connection.execute(SUM_HOURS, (id, edge // NS_PER_HOUR)).fetchone()
        (whole,) = connection.execute(SUM_MINUTES, (id, edge // NS_PER_MINUTE, last_minute)).fetchone()
        (partial,) = connection.execute(COUNT_RAW, (id, last_minute * NS_PER_MINUTE - 1, now)).fetchone()
        return int(sealed + whole + partial)

    def hours(self, id: str, now: int) -> Hours:
        """The per-minute counts of the whole minutes, by hour, and the raw hits of now's minute."""
        first, last = first_hour(now), now // NS_PER_MINUTE
        counts = [0] * HOURS
        with self._database.reading() as connection:
            for hour, count in connection.execute(SUM_HOURS_OF_MINUTES, (id, first // NS_PER_MINUTE, last)):
                counts[hour - first // NS_PER_HOUR] = count
            (partial,) = connection.execute(COUNT_RAW, (id, last * NS_PER_MINUTE - 1, now)).fetchone()
        counts[-1] += partial
        return Hours(id, now, tuple(counts))

    def top(self, window: Window | None, now: int, limit: int, prefix: str = "") -> list[tuple[str, int]]:
        last = now // NS_PER_MINUTE
        parameters = {"prefix": prefix, "limit": limit, "last": last, "last_start": last * NS_PER_MINUTE, "now": now}
        with self._database.reading() as connection:
            if window is None:
                (line,) = connection.execute(f"select {SEAL_LINE}").fetchone()
                edge = min(line, now // NS_PER_HOUR * NS_PER_HOUR)
                parameters |= {"edge_hour": edge // NS_PER_HOUR, "edge_minute": edge // NS_PER_MINUTE}
                rows = connection.execute(RANK_TOTAL, parameters).fetchall()
            else:
                start = window.start(now)
                first = start // NS_PER_MINUTE + 1
                parameters |= {
                    "first": first,
                    "low_minute": first - 1,
                    "after_start": start + 1,
                    "before_first": first * NS_PER_MINUTE - 1,
                }
                rows = connection.execute(RANK_WINDOW, parameters).fetchall()
        return [(id, int(count)) for id, count in rows]

    def seal(self, before: int) -> int:
        with self._database.transaction() as connection:
            (line,) = connection.execute(f"select {SEAL_LINE}").fetchone()
            end = before // NS_PER_HOUR * NS_PER_HOUR
            if end <= line:
                return 0
            minutes = (line // NS_PER_MINUTE, end // NS_PER_MINUTE)
            written = connection.execute(SEAL_HOURS, minutes).rowcount
            connection.execute("update rollup set sealed = ?", (end,))
        return int(written)

    def rebuild(self, since: int) -> int:
        with self._database.transaction() as connection:
            sealed, purged = connection.execute("select sealed, purged from rollup").fetchone()
            first = -(-max(since, purged) // NS_PER_HOUR)  # the first hour none of whose hits were deleted
            if first * NS_PER_HOUR >= sealed:
                return 0
            connection.execute("delete from hour_counts where hour >= ? and hour < ?", (first, sealed // NS_PER_HOUR))
            written = connection.execute(COUNT_HOURS, (first * NS_PER_HOUR, sealed)).rowcount
        return int(written)

    def purge(self, before: int) -> int:
        with self._database.transaction() as connection:
            (line,) = connection.execute(f"select {SEAL_LINE}").fetchone()
            before = min(before, line)  # no hit of an hour not sealed yet
            connection.execute("update rollup set purged = max(purged, ?)", (before,))
            removed = connection.execute("delete from hits where ts < ?", (before,)).rowcount
            connection.execute("delete from visitors where ts < ?", (before,))
            connection.execute("delete from minute_counts where minute < ?", (before // NS_PER_MINUTE,))
        return removed

    def health(self) -> Health:
        return self._database.health("store", "minute_counts")

    def close(self) -> None:
        self._database.close()


@hookimpl
def hitcount_register_backends(registry: Registry) -> None:
    """The ``sqlite`` store."""
    # SQLite's C library holds the process while it waits for a lock or the disk.
    registry.add_store("sqlite", SqliteStore.from_config, blocking=True)
