"""What reads cost the elastic store at scale: the counts of an id with ten million hits, and a ranking.

``counts``: one id gets ``--hits`` hits spread over its three-day window, and 1,000 other ids
1,000 hits each (the baseline: the read of a common id). Each id's counts (every window, its
visitors and its total: the store's own ``counts``, as the API calls it on a miss of its
cache) are read ``--reads`` times in turn, after warm-up rounds left out; then the hot id's counts again, each
read after clearing Elasticsearch's shard request cache (the worst case: every span counted).

``ranking``: ``--hits`` hits of ``--ids`` ids over the last day, the id of rank r getting a
share of about 1/r (Zipf), then ``top`` of the one-day window (limit 10) and of the total,
``--reads`` times each, with the counts of a common id as the baseline.

Hits are written with the store's own bulk writes; the indices then refresh every second,
as a busy cluster's do. Not a test: run it by hand against an Elasticsearch on this machine
(its indices, prefix ``bench-scale-<run>``, are deleted at the end)::

    python packages/store-elastic/bench/scale.py counts
    python packages/store-elastic/bench/scale.py ranking --hits 1000000 --ids 10000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterable
from importlib import metadata

from elasticsearch import Elasticsearch

from hitcount.core import Hit, now_ns
from hitcount.core.windows import LONGEST, NS_PER_DAY, WINDOWS
from hitcount.store_elastic.store import ElasticStore
from hitcount.store_elastic.testing import delete_prefix

BATCH = 20_000
WARMUP_ROUNDS = 5
COMMON_HITS, COMMON_IDS = 1_000, 1_000
# Reads of the hot id each after clearing Elasticsearch's request cache: what the first read of a day costs.
COLD_READS = 20
ONE_DAY = next(window for window in WINDOWS if window.length == NS_PER_DAY)


def write(store: ElasticStore, hits: Iterable[Hit]) -> int:
    """Write ``hits`` in batches; return how many."""
    batch: list[Hit] = []
    written = 0
    for hit in hits:
        batch.append(hit)
        if len(batch) == BATCH:
            store.write(batch)
            written += len(batch)
            batch = []
    store.write(batch)
    return written + len(batch)


def spread(now: int, number: int, span: int) -> Iterable[int]:
    """``number`` timestamps evenly over the ``span`` before ``now``, newest first."""
    step = span // number
    return (now - 1 - n * step for n in range(number))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed(reads: dict[str, Callable[[], object]], rounds: int) -> None:
    """Call each read ``rounds`` times in turn (alternating their order), after warm-up; print p50 and p99."""
    latencies: dict[str, list[float]] = {name: [] for name in reads}
    for round_number in range(WARMUP_ROUNDS + rounds):
        for name in list(reads) if round_number % 2 else list(reversed(reads)):
            began = time.perf_counter()
            reads[name]()
            if round_number >= WARMUP_ROUNDS:
                latencies[name].append((time.perf_counter() - began) * 1000)
    print(f"{'read':<52}{'p50 ms':>9}{'p99 ms':>9}")
    for name, values in latencies.items():
        print(f"{name:<52}{statistics.median(values):>9.1f}{percentile(values, 0.99):>9.1f}")


def counts(store: ElasticStore, admin: Elasticsearch, prefix: str, arguments: argparse.Namespace) -> None:
    now = now_ns()
    began = time.perf_counter()
    written = write(store, (Hit("hot", timestamp) for timestamp in spread(now, arguments.hits, LONGEST.length)))
    written += write(
        store,
        (
            Hit(f"common-{n}", timestamp)
            for n in range(COMMON_IDS)
            for timestamp in spread(now - n, COMMON_HITS, LONGEST.length)
        ),
    )
    store.refresh()
    print(f"loaded {written:,} hits in {time.perf_counter() - began:.0f} s")
    hot = store.counts("hot", now)
    if hot.values[0] != arguments.hits:
        raise SystemExit(f"'hot' counts {hot.values}, not {arguments.hits:,} in its longest window")
    timed(
        {
            f"counts of 'hot' ({arguments.hits:,} hits in 3 days)": lambda: store.counts("hot", now_ns()),
            f"counts of a common id ({COMMON_HITS:,} hits, baseline)": lambda: store.counts(
                f"common-{random.randrange(COMMON_IDS)}", now_ns()
            ),
            "hours of 'hot' (the dashboard's chart)": lambda: store.hours("hot", now_ns()),
        },
        arguments.reads,
    )
    cold = []
    for _ in range(COLD_READS):
        admin.indices.clear_cache(index=f"{prefix}-*", request=True)
        began = time.perf_counter()
        store.counts("hot", now_ns())
        cold.append((time.perf_counter() - began) * 1000)
    name = "counts of 'hot', Elasticsearch's request cache cleared"
    print(f"{name:<52}{statistics.median(cold):>9.1f}{percentile(cold, 0.99):>9.1f}")


def ranking(store: ElasticStore, admin: Elasticsearch, prefix: str, arguments: argparse.Namespace) -> None:
    now = now_ns()
    weights = [1 / rank for rank in range(1, arguments.ids + 1)]
    scale = arguments.hits / sum(weights)
    shares = [max(1, round(weight * scale)) for weight in weights]
    began = time.perf_counter()

    def hits() -> Iterable[Hit]:
        # Interleaved, as traffic comes: each id's hits spread over the day.
        for rank, share in enumerate(shares):
            for timestamp in spread(now - rank, share, ONE_DAY.length - 60 * 10**9):
                yield Hit(f"id-{rank}", timestamp)

    written = write(store, hits())
    store.refresh()
    print(f"loaded {written:,} hits of {arguments.ids:,} ids in {time.perf_counter() - began:.0f} s")
    top = store.top(ONE_DAY, now, 10)
    expected = [(f"id-{rank}", shares[rank]) for rank in range(10)]
    if top != expected:
        raise SystemExit(f"the top ten are {top}, not {expected}")
    timed(
        {
            "top 10 of the last day": lambda: store.top(ONE_DAY, now_ns(), 10),
            "top 10 by total": lambda: store.top(None, now_ns(), 10),
            "counts of a common id (baseline)": lambda: store.counts(f"id-{random.randrange(1000, 2000)}", now_ns()),
        },
        arguments.reads,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("phase", choices=["counts", "ranking"])
    parser.add_argument(
        "--url", default=os.environ.get("HITCOUNT_ELASTIC_URL", "http://127.0.0.1:19209"), help="one node"
    )
    parser.add_argument("--hits", type=int, default=10_000_000, help="hits of the read id, or of the ranked ids")
    parser.add_argument("--ids", type=int, default=100_000, help="ids ranked")
    parser.add_argument("--reads", type=int, default=200, help="timed reads of each kind")
    arguments = parser.parse_args()

    prefix = f"bench-scale-{uuid.uuid4().hex[:8]}"
    admin = Elasticsearch(arguments.url, request_timeout=600)
    store = ElasticStore((arguments.url,), index_prefix=prefix, timeout=120, refresh_interval=1.0)
    [node] = admin.nodes.info(node_id="_local", filter_path="nodes.*.version").body["nodes"].values()
    print(f"elasticsearch {node['version']}, client {metadata.version('elasticsearch')}, prefix {prefix}")
    try:
        (counts if arguments.phase == "counts" else ranking)(store, admin, prefix, arguments)
    finally:
        store.close()
        delete_prefix(admin, prefix)
        admin.close()


if __name__ == "__main__":
    main()
