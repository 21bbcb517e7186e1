"""What counting visitors costs the elastic store's reads, and how far its visitor counts are off.

Cost: one id gets ``--hits`` hits spread over its three-day window from ``--visitors``
random visitor keys, and a second id the same timestamps without keys. Each id's daily
indices are force-merged to one segment, as a day's index ends up, then its counts are
read ``--reads`` times with the store's own search (:func:`query.search_arguments`,
``request_cache: false``, so nothing is cached) and with the same search minus the
``cardinality`` sub-aggregations: the baseline, made here and not in the store. To tell
where the time goes, the same search is also read with lower precision thresholds, with an
execution hint, and with ``value_count`` (which reads the keys into no sketch). The
variants are read in turn, one read each per round, so that a neighbour's load falls on
all of them alike; the first rounds warm up and are left out.

Precision: every trial is an id whose five windows hold 1,000, 5,000, 10,000, 20,000 and
40,000 distinct random 64-bit keys (one hit each), where the store's ``cardinality`` is
in its linear-counting mode; one more id holds ``--distinct`` keys over three days, where it
is HyperLogLog. Each count is compared with the exact number of keys.

Not a test: run it by hand against an Elasticsearch on this machine; its indices and
template (prefix ``bench-visitors-<run>``) are deleted at the end::

    python packages/store-elastic/bench/visitors.py
    python packages/store-elastic/bench/visitors.py --hits 200000 --visitors 20000 --trials 5
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

from elasticsearch import Elasticsearch

from hitcount.core import Hit, now_ns
from hitcount.core.windows import LONGEST, WINDOWS, Counts
from hitcount.store_elastic import query
from hitcount.store_elastic.layout import VISITOR_FIELD, Layout
from hitcount.store_elastic.store import ElasticStore

BATCH = 10_000
WARMUP_ROUNDS = 5
# The precision trials' windows hold these many distinct keys, shortest window first.
TRIAL_SIZES = (1_000, 5_000, 10_000, 20_000, 40_000)
Search = Callable[[], Any]


def random_key() -> int:
    """A random signed 64-bit visitor key, as the API's keyed hash makes them."""
    return random.getrandbits(64) - 2**63


def write(store: ElasticStore, hits: Iterable[Hit]) -> None:
    """Write ``hits`` with the store's own bulk writes, ``BATCH`` at a time."""
    batch: list[Hit] = []
    for hit in hits:
        batch.append(hit)
        if len(batch) == BATCH:
            store.write(batch)
            batch = []
    store.write(batch)


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


def without_visitors(arguments: dict[str, Any]) -> dict[str, Any]:
    """The store's search minus the per-window sub-aggregations: what a count cost before visitors."""
    baseline = copy.deepcopy(arguments)
    del baseline["aggregations"][query.AGGREGATION]["aggregations"]
    return baseline


def with_visitors(arguments: dict[str, Any], metric: dict[str, Any]) -> dict[str, Any]:
    """The store's search with ``metric`` in place of its per-window cardinality, to compare their costs."""
    changed = copy.deepcopy(arguments)
    changed["aggregations"][query.AGGREGATION]["aggregations"][query.VISITORS] = metric
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--url", default=os.environ.get("HITCOUNT_ELASTIC_URL", "http://127.0.0.1:19209"), help="one node"
    )
    parser.add_argument("--hits", type=int, default=1_000_000, help="hits of the read id, over three days")
    parser.add_argument("--visitors", type=int, default=100_000, help="distinct visitor keys among them")
    parser.add_argument("--reads", type=int, default=50, help="timed reads of each variant")
    parser.add_argument("--trials", type=int, default=20, help="ids of 1,000 to 40,000 distinct keys")
    parser.add_argument("--distinct", type=int, default=1_000_000, help="distinct keys of the HyperLogLog id")
    arguments = parser.parse_args()

    prefix = f"bench-visitors-{uuid.uuid4().hex[:8]}"
    layout = Layout(prefix)
    admin = Elasticsearch(arguments.url, request_timeout=600)
    store = ElasticStore((arguments.url,), index_prefix=prefix, timeout=120)
    try:
        run(arguments, layout, admin, store)
    finally:
        store.close()
        for entry in admin.indices.resolve_index(name=layout.pattern, expand_wildcards="all")["indices"]:
            admin.indices.delete(index=entry["name"])
        admin.options(ignore_status=404).indices.delete_index_template(name=prefix)
        admin.close()


def run(arguments: argparse.Namespace, layout: Layout, admin: Elasticsearch, store: ElasticStore) -> None:
    now = now_ns()
    keys = [random_key() for _ in range(arguments.visitors)]
    timestamps = spread(now, arguments.hits)
    started = time.perf_counter()
    write(store, (Hit("keyed", timestamp, visitor=random.choice(keys)) for timestamp in timestamps))
    write(store, (Hit("unkeyed", timestamp) for timestamp in timestamps))
    trials = [f"trial-{number}" for number in range(arguments.trials)]
    for id in trials:
        write(store, trial_hits(id, now))
    distinct = [Hit("distinct", timestamp, visitor=random_key()) for timestamp in spread(now, arguments.distinct)]
    write(store, distinct)
    loaded = time.perf_counter() - started
    admin.indices.forcemerge(index=layout.pattern, max_num_segments=1)
    admin.indices.refresh(index=layout.pattern)

    expected = Counts.of_hits("keyed", now, [(timestamp, None) for timestamp in timestamps]).values
    for id in ("keyed", "unkeyed"):
        if store.counts(id, now).values != expected:
            raise SystemExit(f"counted {store.counts(id, now).values} hits of {id!r}, not {expected}")
    [node] = admin.nodes.info(node_id="_local", filter_path="nodes.*.version")["nodes"].values()
    print(
        f"elasticsearch {node['version']}, client {metadata.version('elasticsearch')}:"
        f" {admin.count(index=layout.pattern)['count']:,} documents loaded in {loaded:.0f} s,"
        " force-merged to one segment per daily index"
    )
    reads(arguments, layout, admin, now)
    print(f"visitors of 'keyed' by window, longest first: {store.counts('keyed', now).visitors}")
    linear_counting(store, trials, now)
    hyperloglog(store, distinct, now)


def reads(arguments: argparse.Namespace, layout: Layout, admin: Elasticsearch, now: int) -> None:
    """Time each variant of the count search, interleaved; print p50, p99 and p50 over the id's baseline."""
    indices = layout.counted_indices(now)

    def search(arguments: dict[str, Any]) -> Search:
        return lambda: admin.search(index=indices, ignore_unavailable=True, allow_no_indices=True, **arguments)

    variants: dict[str, Search] = {}
    for id in ("keyed", "unkeyed"):
        store_search = query.search_arguments(id, now)
        variants[f"{id}, the store's count (cardinality, threshold 40,000)"] = search(store_search)
        variants[f"{id}, without the cardinality (baseline)"] = search(without_visitors(store_search))
    keyed = query.search_arguments("keyed", now)
    for threshold, name in ((10_000, "10,000"), (3_000, "3,000 (the default)")):
        metric = {"cardinality": {"field": VISITOR_FIELD, "precision_threshold": threshold}}
        variants[f"keyed, cardinality with threshold {name}"] = search(with_visitors(keyed, metric))
    hinted = {"field": VISITOR_FIELD, "precision_threshold": query.PRECISION_THRESHOLD, "execution_hint": "direct"}
    variants["keyed, threshold 40,000, execution_hint direct"] = search(with_visitors(keyed, {"cardinality": hinted}))
    metric = {"value_count": {"field": VISITOR_FIELD}}
    variants["keyed, value_count (reads the keys, no sketch)"] = search(with_visitors(keyed, metric))
    latencies: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(WARMUP_ROUNDS + arguments.reads):
        names = list(variants) if round_number % 2 else list(reversed(variants))
        for name in names:
            began = time.perf_counter()
            variants[name]()
            if round_number >= WARMUP_ROUNDS:
                latencies[name].append((time.perf_counter() - began) * 1000)

    print(f"\nReads of {arguments.hits:,} hits ({arguments.visitors:,} visitors), {arguments.reads} each, ms:")
    print(f"{'search':<58}{'p50':>8}{'p99':>8}{'p50 / baseline':>16}")
    for name, values in latencies.items():
        baseline = latencies[f"{name.split(',')[0]}, without the cardinality (baseline)"]
        ratio = statistics.median(values) / statistics.median(baseline)
        print(f"{name:<58}{statistics.median(values):>8.1f}{percentile(values, 0.99):>8.1f}{ratio:>16.2f}")


def linear_counting(store: ElasticStore, trials: list[str], now: int) -> None:
    """How far each trial's windows (:data:`TRIAL_SIZES` distinct keys) are off."""
    print(f"\nLinear counting: {len(trials)} ids, their windows holding each number of distinct random keys")
    print(f"{'distinct keys':>14}{'exact':>8}{'mean error':>12}{'max |error|':>13}{'n²/2²⁶':>9}")
    errors: dict[int, list[int]] = {size: [] for size in TRIAL_SIZES}
    for id in trials:
        visitors = store.counts(id, now).visitors
        assert visitors is not None
        for size, counted in zip(TRIAL_SIZES, reversed(visitors), strict=True):
            errors[size].append(counted - size)
    for size, found in errors.items():
        exact = sum(1 for error in found if error == 0)
        print(
            f"{size:>14,}{f'{exact}/{len(found)}':>8}{statistics.mean(found):>+12.1f}"
            f"{max(abs(error) for error in found):>13}{size**2 / 2**26:>9.1f}"
        )


def hyperloglog(store: ElasticStore, hits: list[Hit], now: int) -> None:
    """The relative error of each window of the id whose every hit has a key of its own."""
    print(f"\nHyperLogLog: one id of {len(hits):,} distinct keys over three days")
    counted = store.counts("distinct", now).visitors
    expected = Counts.of_hits("distinct", now, [(hit.timestamp, hit.visitor) for hit in hits]).visitors
    assert counted is not None
    assert expected is not None
    print(f"{'window':>8}{'distinct keys':>15}{'counted':>10}{'error':>9}")
    for window, got, wanted in zip(WINDOWS, counted, expected, strict=True):
        print(f"{window.name:>8}{wanted:>15,}{got:>10,}{(got - wanted) / wanted * 100:>+8.2f}%")


if __name__ == "__main__":
    main()
