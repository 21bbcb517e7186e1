"""What counting visitors costs the elastic store's reads, and how far its visitor counts are off.

Cost: one id gets ``--hits`` hits spread over its three-day window from ``--visitors``
random visitor keys, a second id the same timestamps without keys, and a small one 1,000
hits from 300 keys. The bench's template is the store's with each key also copied into a
``keyword`` field, so that ``cardinality`` on ordinals is read from the very same segments
as the store's on its ``long``. Each id's counts are read ``--reads`` times with the store's
own search (:func:`query.search_arguments`, ``request_cache: false``, so nothing is cached),
with the same search minus the ``cardinality`` sub-aggregations (the baseline, made here
and not in the store), with lower precision thresholds, with ``value_count`` (which reads
the keys into no sketch) and with the ``keyword`` under each execution hint that uses
ordinals. The variants are read in turn, one read each per round, so that a neighbour's load
falls on all of them alike; the first rounds warm up and are left out. They are read twice:
as loaded, refreshing every second, so that each daily index has several segments as a busy
day's has; then force-merged to one segment, as a day's index ends up. In between, a few
are read each right after 100 new hits and a refresh, which global ordinals are rebuilt for.

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
# Refreshing every second while loading leaves several segments in each daily index, as a busy day has.
LOAD_REFRESH = 1.0
# The id of few hits: what the visitor count costs the common read.
SMALL_HITS, SMALL_VISITORS = 1_000, 300
# The visitor keys as a ``keyword`` too (the bench's template copies each into it), whose
# ``cardinality`` reads segment or global ordinals: a bit per hit, one hash per distinct key.
KEYWORD_FIELD = "visitor_keyword"
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


def cardinality(field: str, threshold: int = query.PRECISION_THRESHOLD, hint: str | None = None) -> dict[str, Any]:
    """A ``cardinality`` aggregation of ``field``, with execution hint ``hint`` or none."""
    hinted = {} if hint is None else {"execution_hint": hint}
    return {"cardinality": {"field": field, "precision_threshold": threshold, **hinted}}


def on_keyword(arguments: dict[str, Any], hint: str | None = None) -> dict[str, Any]:
    """The store's search counting the keys of :data:`KEYWORD_FIELD` instead, with execution hint ``hint``."""
    return with_visitors(arguments, cardinality(KEYWORD_FIELD, hint=hint))


def bench_template(layout: Layout) -> dict[str, Any]:
    """The store's template, each visitor key also copied into :data:`KEYWORD_FIELD`."""
    template = copy.deepcopy(layout.template())
    properties = template["template"]["mappings"]["properties"]
    properties[VISITOR_FIELD] = {**properties[VISITOR_FIELD], "copy_to": KEYWORD_FIELD}
    properties[KEYWORD_FIELD] = {"type": "keyword", "index": False}
    return template


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--url", default=os.environ.get("HITCOUNT_ELASTIC_URL", "http://127.0.0.1:19209"), help="one node"
    )
    parser.add_argument("--hits", type=int, default=1_000_000, help="hits of the read id, over three days")
    parser.add_argument("--visitors", type=int, default=100_000, help="distinct visitor keys among them")
    parser.add_argument("--reads", type=int, default=30, help="timed reads of each variant, in each phase")
    parser.add_argument("--refreshes", type=int, default=10, help="reads right after a refresh, of each variant")
    parser.add_argument("--trials", type=int, default=20, help="ids of 1,000 to 40,000 distinct keys")
    parser.add_argument("--distinct", type=int, default=1_000_000, help="distinct keys of the HyperLogLog id")
    arguments = parser.parse_args()

    prefix = f"bench-visitors-{uuid.uuid4().hex[:8]}"
    layout = Layout(prefix, refresh_interval=LOAD_REFRESH)
    admin = Elasticsearch(arguments.url, request_timeout=600)
    store = ElasticStore((arguments.url,), index_prefix=prefix, timeout=120, refresh_interval=LOAD_REFRESH)
    admin.indices.put_index_template(name=layout.template_name, body=bench_template(layout))
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
    small_keys = [random_key() for _ in range(SMALL_VISITORS)]
    write(store, (Hit("small", timestamp, visitor=random.choice(small_keys)) for timestamp in spread(now, SMALL_HITS)))
    trials = [f"trial-{number}" for number in range(arguments.trials)]
    for id in trials:
        write(store, trial_hits(id, now))
    distinct = [Hit("distinct", timestamp, visitor=random_key()) for timestamp in spread(now, arguments.distinct)]
    write(store, distinct)
    loaded = time.perf_counter() - started
    store.refresh()

    expected = Counts.of_hits("keyed", now, [(timestamp, None) for timestamp in timestamps]).values
    for id in ("keyed", "unkeyed"):
        if store.counts(id, now).values != expected:
            raise SystemExit(f"counted {store.counts(id, now).values} hits of {id!r}, not {expected}")
    [node] = admin.nodes.info(node_id="_local", filter_path="nodes.*.version")["nodes"].values()
    print(
        f"elasticsearch {node['version']}, client {metadata.version('elasticsearch')}:"
        f" {admin.count(index=layout.pattern)['count']:,} documents loaded in {loaded:.0f} s"
        f" (refresh every {LOAD_REFRESH:.0f} s)"
    )
    print(f"\nAs loaded: {segments(admin, layout)}")
    reads(arguments, layout, admin, now)
    after_refresh(arguments, layout, admin, store, now)
    admin.indices.forcemerge(index=layout.pattern, max_num_segments=1)
    admin.indices.refresh(index=layout.pattern)
    print(f"\nForce-merged: {segments(admin, layout)}")
    reads(arguments, layout, admin, now)
    print(f"\nvisitors of 'keyed' by window, longest first: {store.counts('keyed', now).visitors}")
    linear_counting(store, trials, now)
    hyperloglog(store, distinct, now)


def segments(admin: Elasticsearch, layout: Layout) -> str:
    """How many segments each daily index has, oldest first."""
    stats = admin.indices.stats(index=layout.pattern, metric="segments")["indices"]
    return "segments per daily index " + ", ".join(
        str(stats[index]["primaries"]["segments"]["count"]) for index in sorted(stats)
    )


def variants(now: int) -> dict[str, dict[str, Any]]:
    """The searches timed, by name: each id's count as the store makes it, without visitors, and variants."""
    keyed = query.search_arguments("keyed", now)
    small = query.search_arguments("small", now)
    return {
        "keyed, the store's count (long, threshold 40,000)": keyed,
        "keyed, long, threshold 10,000": with_visitors(keyed, cardinality(VISITOR_FIELD, 10_000)),
        "keyed, long, threshold 3,000 (the default)": with_visitors(keyed, cardinality(VISITOR_FIELD, 3_000)),
        "keyed, long, value_count (no sketch)": with_visitors(keyed, {"value_count": {"field": VISITOR_FIELD}}),
        "keyed, keyword, segment_ordinals": on_keyword(keyed, "segment_ordinals"),
        "keyed, keyword, global_ordinals": on_keyword(keyed, "global_ordinals"),
        "keyed, keyword, no hint (save_time_heuristic)": on_keyword(keyed),
        "keyed, without the cardinality (baseline)": without_visitors(keyed),
        "unkeyed, the store's count": query.search_arguments("unkeyed", now),
        "unkeyed, without the cardinality (baseline)": without_visitors(query.search_arguments("unkeyed", now)),
        "small, the store's count": small,
        "small, keyword, segment_ordinals": on_keyword(small, "segment_ordinals"),
        "small, without the cardinality (baseline)": without_visitors(small),
    }


def searcher(admin: Elasticsearch, layout: Layout, now: int) -> Callable[[dict[str, Any]], Search]:
    indices = layout.counted_indices(now)

    def search(arguments: dict[str, Any]) -> Search:
        return lambda: admin.search(index=indices, ignore_unavailable=True, allow_no_indices=True, **arguments)

    return search


def reads(arguments: argparse.Namespace, layout: Layout, admin: Elasticsearch, now: int) -> None:
    """Time each variant of the count search, interleaved; print p50, p99 and p50 over the id's baseline."""
    search = searcher(admin, layout, now)
    searches = {name: search(body) for name, body in variants(now).items()}
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
    print(f"{'search':<58}{'p50':>8}{'p99':>8}{'p50 / baseline':>16}")
    for name, values in latencies.items():
        baseline = latencies[f"{name.split(',')[0]}, without the cardinality (baseline)"]
        ratio = statistics.median(values) / statistics.median(baseline)
        print(f"{name:<58}{statistics.median(values):>8.1f}{percentile(values, 0.99):>8.1f}{ratio:>16.2f}")


def after_refresh(
    arguments: argparse.Namespace, layout: Layout, admin: Elasticsearch, store: ElasticStore, now: int
) -> None:
    """Time reads of 'keyed' each right after a write and a refresh, which global ordinals must follow."""
    search = searcher(admin, layout, now)
    keyed = query.search_arguments("keyed", now)
    searches = {
        "the store's count (long)": search(keyed),
        "keyword, segment_ordinals": search(on_keyword(keyed, "segment_ordinals")),
        "keyword, global_ordinals": search(on_keyword(keyed, "global_ordinals")),
        "without the cardinality (baseline)": search(without_visitors(keyed)),
    }
    latencies: dict[str, list[float]] = {name: [] for name in searches}
    for _ in range(arguments.refreshes):
        for name, read in searches.items():
            store.write([Hit("fresh", now_ns(), visitor=random_key()) for _ in range(100)])
            store.refresh()
            began = time.perf_counter()
            read()
            latencies[name].append((time.perf_counter() - began) * 1000)
    print(f"\nReads of 'keyed', each right after 100 new hits and a refresh, {arguments.refreshes} each, ms:")
    print(f"{'search':<58}{'p50':>8}{'max':>8}")
    for name, values in latencies.items():
        print(f"{name:<58}{statistics.median(values):>8.1f}{max(values):>8.1f}")


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
