"""What a year of hourly counts costs a read of a store: ``counts`` (every window and the total).

One id gets a hit every hour for ``--days`` days, sealed (so its total sums that many hourly
counts), and ``--hits`` hits over its last three days, the windows' share; a second id the
same last three days and nothing before (its total sums none: the baseline); ``--ids`` other
ids a year of daily hits each, so that the tables hold other ids' rows too. Each id's counts
are read ``--reads`` times, in turn, uncached (the store's own ``counts``, as the API calls it
on a cache miss), after ``--warmup`` discarded reads.

The store is the one ``HITCOUNT_STORE`` names (sqlite by default, in a directory of its own);
on Elasticsearch, indices of a prefix of its own, deleted afterwards. Before the reads, hits
older than four days are purged, as retention would: a read then sums the sealed hours'
counts, not raw hits of a year. Not a test: run it by hand::

    .venv/bin/python packages/core/bench/totals.py
    set -a; . var/services.env; set +a
    HITCOUNT_STORE=elastic .venv/bin/python packages/core/bench/totals.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from hitcount.core import Hit, HitStore, Runtime, now_ns
from hitcount.core.rollups import seal_line
from hitcount.core.windows import LONGEST, NS_PER_DAY, NS_PER_HOUR

BATCH = 10_000


def write(store: HitStore, hits: list[Hit]) -> None:
    for first in range(0, len(hits), BATCH):
        store.write(hits[first : first + BATCH])


@contextmanager
def opened_store() -> Iterator[HitStore]:
    """The store of ``HITCOUNT_STORE``, on data of this run alone, removed afterwards."""
    with tempfile.TemporaryDirectory() as directory:
        prefix = f"bench-totals-{uuid.uuid4().hex[:8]}"
        environ = {**os.environ, "HITCOUNT_DATA_DIR": directory, "HITCOUNT_ELASTIC_INDEX_PREFIX": prefix}
        store = Runtime.load(environ).open_store()
        try:
            yield store
        finally:
            store.close()
            if environ.get("HITCOUNT_STORE") == "elastic":
                from elasticsearch import Elasticsearch

                from hitcount.store_elastic.testing import delete_prefix

                client = Elasticsearch(environ["HITCOUNT_ELASTIC_URL"].split(","), request_timeout=120)
                delete_prefix(client, prefix)
                client.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of hourly hits of the read id")
    parser.add_argument("--hits", type=int, default=30_000, help="hits of each read id in its last three days")
    parser.add_argument("--ids", type=int, default=1_000, help="other ids, a hit a day each")
    parser.add_argument("--reads", type=int, default=2_000, help="timed reads of each id")
    parser.add_argument("--warmup", type=int, default=200, help="reads left out first")
    arguments = parser.parse_args()

    now = now_ns()
    with opened_store() as store:
        started = time.perf_counter()
        write(store, [Hit("year", now - hour * NS_PER_HOUR) for hour in range(arguments.days * 24)])
        recent = [now - 1 - n * (LONGEST.length // arguments.hits) for n in range(arguments.hits)]
        write(store, [Hit(id, timestamp) for id in ("year", "recent") for timestamp in recent])
        days = min(arguments.days, 365)
        write(
            store, [Hit(f"other-{n}", now - day * NS_PER_DAY - n) for n in range(arguments.ids) for day in range(days)]
        )
        loaded = time.perf_counter() - started
        began = time.perf_counter()
        sealed = store.seal(seal_line(now))
        sealing = time.perf_counter() - began
        store.purge(now - 4 * NS_PER_DAY)
        store.refresh()
        year, baseline = store.counts("year", now), store.counts("recent", now)
        if (year.total, baseline.total) != (arguments.days * 24 + arguments.hits, arguments.hits):
            raise SystemExit(f"totals {year.total} and {baseline.total} are not what was written")
        print(
            f"loaded in {loaded:.0f} s, sealed in {sealing:.2f} s: {sealed:,} hourly counts;"
            f" 'year' total {year.total:,}"
        )

        latencies: dict[str, list[float]] = {"year": [], "recent": []}
        for round_number in range(arguments.warmup + arguments.reads):
            for id in ("year", "recent") if round_number % 2 else ("recent", "year"):
                began = time.perf_counter()
                store.counts(id, now_ns())
                if round_number >= arguments.warmup:
                    latencies[id].append((time.perf_counter() - began) * 1000)

    print(f"{'counts() of':<56}{'p50 ms':>8}{'p99 ms':>8}{'p50 / baseline':>16}")
    names = {
        "year": f"'year': {arguments.days} days of hourly counts",
        "recent": "'recent': the same windows, no sealed hour (baseline)",
    }
    for id, values in latencies.items():
        ratio = statistics.median(values) / statistics.median(latencies["recent"])
        print(f"{names[id]:<56}{statistics.median(values):>8.2f}{percentile(values, 0.99):>8.2f}{ratio:>16.2f}")


if __name__ == "__main__":
    main()
