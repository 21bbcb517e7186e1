"""What counting visitors costs the elastic store, writing and reading, and that its counts are exact.

Load: one id gets ``--hits`` hits spread over its three-day window from ``--visitors`` random
visitor keys, a second id the same timestamps without keys, written with the store's own bulk
writes in alternating batches of 10,000, so that the Elasticsearch CPU time of each batch (the
local node's ``/proc/<pid>/stat``) compares writing hits with their visitors' documents against
writing the same hits alone, under the same load. A small id gets 1,000 hits from 300 keys.

Reads: each id's counts are read ``--reads`` times with the store's own search
(:func:`counting.plan`: spans of the daily indices, the visitors index and the rollups index)
and with the baseline, the same multi-search without the visitors index's search (what a count
cost before visitors). They are read in turn, one read each per
round, so that a neighbour's load falls on both alike; the first rounds warm up and are left
out; once as loaded (refreshing every second, several segments a day), once force-merged.

Exactness: every trial is an id whose five windows hold 1,000, 5,000, 10,000, 20,000 and 40,000
distinct random 64-bit keys (one hit each); one more id holds ``--distinct`` keys over three
days. Each count is compared with the exact number of keys.

Not a test: run it by hand against an Elasticsearch on this machine; its indices and
templates (prefix ``bench-visitors-<run>``) are deleted at the end::

    python packages/store-elastic/bench/visitors.py
    python packages/store-elastic/bench/visitors.py --hits 200000 --visitors 20000 --trials 5
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from typing import Any

from elasticsearch import Elasticsearch

from hitcount.core import Hit, now_ns
from hitcount.core.rollups import seal_line
from hitcount.core.windows import LONGEST, WINDOWS, Counts
from hitcount.store_elastic import counting
from hitcount.store_elastic.layout import Layout
from hitcount.store_elastic.store import ElasticStore
from hitcount.store_elastic.testing import delete_prefix

BATCH = 10_000
WARMUP_ROUNDS = 5
# Refreshing every second while loading leaves several segments in each daily index, as a busy day has.
LOAD_REFRESH = 1.0
# The id of few hits: what the visitor count costs the common read.
SMALL_HITS, SMALL_VISITORS = 1_000, 300
# The precision trials' windows hold these many distinct keys, shortest window first.
TRIAL_SIZES = (1_000, 5_000, 10_000, 20_000, 40_000)
Search = Callable[[], Any]


def random_key() -> int:
    """A random signed 64-bit visitor key, as the API's keyed hash makes them."""
    return random.getrandbits(64) - 2**63


def batches(hits: Iterable[Hit]) -> Iterator[list[Hit]]:
    """``hits`` in lists of ``BATCH``, as the indexer hands them to the store."""
    batch: list[Hit] = []
    for hit in hits:
        batch.append(hit)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def write(store: ElasticStore, hits: Iterable[Hit]) -> None:
    """Write ``hits`` with the store's own bulk writes, ``BATCH`` at a time."""
    for batch in batches(hits):
        store.write(batch)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spread(now: int, count: int) -> list[int]:
    """``count`` random timestamps in the longest window at ``now``, ascending as an indexer would send them."""
    return sorted(now - random.randrange(LONGEST.length) for _ in range(count))


def trial_hits(id: str, now: int) -> list[Hit]:
    """One hit per key, so many keys in each window that it holds exactly :data:`TRIAL_SIZES` of them."""
    hits, previous = [], 0
    for window, size in zip(reversed(WINDOWS), TRIAL_SIZES, strict=True):
        # Keys added here are in this window and every longer one, outside every shorter one.
        shorter = WINDOWS[WINDOWS.index(window) + 1].length if window is not WINDOWS[-1] else 0
        hits += [
            Hit(id, now - shorter - 1 - random.randrange(window.length - shorter - 1), visitor=random_key())
            for _ in range(size - previous)
        ]
        previous = size
    return hits


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def without_visitors(searches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The store's multi-search minus the search of the visitors index (its header and body, before the
    rollups index's): what a count cost before visitors."""
    return searches[:-4] + searches[-2:]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--url", default=os.environ.get("HITCOUNT_ELASTIC_URL", "http://127.0.0.1:19209"), help="one node"
    )
    parser.add_argument("--hits", type=int, default=1_000_000, help="hits of the read id, over three days")
    parser.add_argument("--visitors", type=int, default=100_000, help="distinct visitor keys among them")
    parser.add_argument("--reads", type=int, default=30, help="timed reads of each search, in each phase")
    parser.add_argument("--trials", type=int, default=20, help="ids of 1,000 to 40,000 distinct keys")
    parser.add_argument("--distinct", type=int, default=1_000_000, help="distinct keys of one more id")
    arguments = parser.parse_args()

    prefix = f"bench-visitors-{uuid.uuid4().hex[:8]}"
    admin = Elasticsearch(arguments.url, request_timeout=600)
    store = ElasticStore((arguments.url,), index_prefix=prefix, timeout=120, refresh_interval=LOAD_REFRESH)
    try:
        run(arguments, Layout(prefix), admin, store)
    finally:
        store.close()
        delete_prefix(admin, prefix)
        admin.close()


def run(arguments: argparse.Namespace, layout: Layout, admin: Elasticsearch, store: ElasticStore) -> None:
    [node] = admin.nodes.info(node_id="_local", filter_path="nodes.*.version,nodes.*.process.id")["nodes"].values()
    print(f"elasticsearch {node['version']}, client {metadata.version('elasticsearch')}")
    now = now_ns()
    keys = [random_key() for _ in range(arguments.visitors)]
    timestamps = spread(now, arguments.hits)
    writes(store, node["process"]["id"], timestamps, keys)
    write(
        store,
        (
            Hit("small", timestamp, visitor=random.choice(keys[:SMALL_VISITORS]))
            for timestamp in spread(now, SMALL_HITS)
        ),
    )
    trials = [f"trial-{number}" for number in range(arguments.trials)]
    for id in trials:
        write(store, trial_hits(id, now))
    distinct = [Hit("distinct", timestamp, visitor=random_key()) for timestamp in spread(now, arguments.distinct)]
    write(store, distinct)
    store.refresh()

    expected = Counts.of_hits("keyed", now, [(timestamp, None) for timestamp in timestamps]).values
    for id in ("keyed", "unkeyed"):
        if store.counts(id, now).values != expected:
            raise SystemExit(f"counted {store.counts(id, now).values} hits of {id!r}, not {expected}")
    print(f"\nAs loaded: {segments(admin, layout)}")
    reads(arguments, layout, admin, now)
    admin.indices.forcemerge(index=layout.pattern, max_num_segments=1)
    admin.indices.refresh(index=layout.pattern)
    print(f"\nForce-merged: {segments(admin, layout)}")
    reads(arguments, layout, admin, now)
    print(f"\nvisitors of 'keyed' by window, longest first: {store.counts('keyed', now).visitors}")
    exactness(store, trials, distinct, now)


def writes(store: ElasticStore, pid: int, timestamps: list[int], keys: list[int]) -> None:
    """Write 'keyed' and 'unkeyed' in alternating batches; print Elasticsearch's CPU and the time per hit of each."""
    spent = {"keyed": [0.0, 0.0], "unkeyed": [0.0, 0.0]}
    keyed = batches(Hit("keyed", timestamp, visitor=random.choice(keys)) for timestamp in timestamps)
    unkeyed = batches(Hit("unkeyed", timestamp) for timestamp in timestamps)
    for pair in zip(keyed, unkeyed, strict=True):
        for id, batch in zip(("keyed", "unkeyed"), pair, strict=True):
            cpu, began = cpu_seconds(pid), time.perf_counter()
            store.write(batch)
            spent[id][0] += cpu_seconds(pid) - cpu
            spent[id][1] += time.perf_counter() - began
    hits = len(timestamps)
    print(f"Writes of {hits:,} hits each, {BATCH:,} a bulk, alternating, Elasticsearch CPU and time per hit:")
    for id, (cpu, elapsed) in spent.items():
        ratio = cpu / spent["unkeyed"][0]
        print(f"{id:>8}: {cpu / hits * 1e6:6.1f} µs CPU ({ratio:.2f}x), {elapsed / hits * 1e6:6.1f} µs elapsed")


def segments(admin: Elasticsearch, layout: Layout) -> str:
    """How many segments each index has."""
    stats = admin.indices.stats(index=layout.pattern, metric="segments")["indices"]
    return "segments per index " + ", ".join(
        f"{index.rsplit('-', 1)[1]} {stats[index]['primaries']['segments']['count']}" for index in sorted(stats)
    )


def reads(arguments: argparse.Namespace, layout: Layout, admin: Elasticsearch, now: int) -> None:
    """Time each id's count and its baseline, interleaved; print p50, p99 and p50 over the id's baseline."""
    # As the store reads once the indexer's sealing keeps up.
    sealed = seal_line(now)
    searches: dict[str, Search] = {}
    for id in ("keyed", "unkeyed", "small"):
        plan = counting.plan(layout, id, now, sealed)
        searches[f"{id}, the store's count"] = search(admin, plan.searches)
        searches[f"{id}, baseline"] = search(admin, without_visitors(plan.searches))
    latencies: dict[str, list[float]] = {name: [] for name in searches}
    for round_number in range(WARMUP_ROUNDS + arguments.reads):
        names = list(searches) if round_number % 2 else list(reversed(searches))
        for name in names:
            began = time.perf_counter()
            searches[name]()
            if round_number >= WARMUP_ROUNDS:
                latencies[name].append((time.perf_counter() - began) * 1000)
    print(
        f"Reads ({arguments.hits:,} hits of 'keyed' from {arguments.visitors:,} visitors,"
        f" {SMALL_HITS:,} of 'small' from {SMALL_VISITORS:,}), {arguments.reads} each, ms:"
    )
    print(f"{'search':<28}{'p50':>8}{'p99':>8}{'p50 / baseline':>16}")
    for name, values in latencies.items():
        baseline = latencies[f"{name.split(',')[0]}, baseline"]
        ratio = statistics.median(values) / statistics.median(baseline)
        print(f"{name:<28}{statistics.median(values):>8.1f}{percentile(values, 0.99):>8.1f}{ratio:>16.2f}")


def search(admin: Elasticsearch, searches: list[dict[str, Any]]) -> Search:
    return lambda: admin.msearch(searches=searches)


def exactness(store: ElasticStore, trials: list[str], distinct: list[Hit], now: int) -> None:
    """Each trial's windows (:data:`TRIAL_SIZES` distinct keys) and the distinct id's, counted against the truth."""
    print(f"\nExactness: {len(trials)} ids, their windows holding each number of distinct random keys")
    print(f"{'distinct keys':>14}{'exact':>8}{'max |error|':>13}")
    errors: dict[int, list[int]] = {size: [] for size in TRIAL_SIZES}
    for id in trials:
        visitors = store.counts(id, now).visitors
        assert visitors is not None
        for size, counted in zip(TRIAL_SIZES, reversed(visitors), strict=True):
            errors[size].append(counted - size)
    for size, found in errors.items():
        exact = sum(1 for error in found if error == 0)
        print(f"{size:>14,}{f'{exact}/{len(found)}':>8}{max(abs(error) for error in found):>13}")
    answered = store.counts("distinct", now).visitors
    truth = Counts.of_hits("distinct", now, [(hit.timestamp, hit.visitor) for hit in distinct]).visitors
    assert answered is not None
    assert truth is not None
    print(f"\nOne id of {len(distinct):,} distinct keys over three days")
    print(f"{'window':>8}{'distinct keys':>15}{'counted':>10}")
    for window, got, wanted in zip(WINDOWS, answered, truth, strict=True):
        print(f"{window.name:>8}{wanted:>15,}{got:>10,}")


if __name__ == "__main__":
    main()
