"""``make bench``: the spec's performance targets, measured on this machine, printed as one table.

Every figure comes with a baseline measured in the same run on the same settings, so that
ratios hold on a noisy shared machine. Needs the services of ``scripts/services.py`` (Redis,
Elasticsearch 9, the Redis Cluster and the Elasticsearch cluster) and wrk. Shorter runs for a
quick look: BENCH_TRACK_SECONDS (default 60), BENCH_SOAK_SECONDS (default 300), BENCH_HOT_HITS
(default 1,000,000).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import statistics
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit

from harness import (
    Bench,
    Shape,
    metered_wrk,
    pipeline_shape,
    production_shape,
    stored,
    verdict,
)
from loads import CONNECTIONS, Load, Wrk
from processes import children, rss_mib

from hitcount.core import Hit, Runtime, now_ns
from hitcount.core.bench.command import count_of
from hitcount.core.testing.processes import free_port
from hitcount.core.windows import LONGEST, NS_PER_SECOND
from hitcount.core.wire import encode_batch

TRACK_SECONDS = float(os.environ.get("BENCH_TRACK_SECONDS", "60"))
SOAK_SECONDS = float(os.environ.get("BENCH_SOAK_SECONDS", "300"))
HOT_HITS = int(os.environ.get("BENCH_HOT_HITS", "1000000"))
INDEXER_HITS = 500_000


def get_latencies(url: str, path: str, requests: int, per_second: float | None = None) -> list[float]:
    """Milliseconds of ``requests`` GETs on one keep-alive connection, back to back or ``per_second``; sorted."""
    connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=30)
    latencies = []
    start = time.perf_counter()
    for sent in range(requests):
        if per_second:
            time.sleep(max(0.0, start + sent / per_second - time.perf_counter()))
        began = time.perf_counter()
        connection.request("GET", path)
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200, answer.status
        latencies.append((time.perf_counter() - began) * 1000)
    connection.close()
    return sorted(latencies)


def p99(latencies: list[float]) -> float:
    return latencies[int(0.99 * (len(latencies) - 1))]


def track(bench: Bench) -> Shape:
    """Single-hit Track in the production and the sqlite shapes against bare Flask; then open loop and batches."""
    print(f"Track, single hits, {TRACK_SECONDS:.0f}s each", flush=True)
    floor = bench.floor(TRACK_SECONDS)
    floor_us = floor.cpu.per_hit(floor.answered)["floor"]
    bench.add(
        f"HTTP floor: a gevent loop answering a fixed 204, one process, wrk -c{CONNECTIONS}",
        f"{floor.wrk.per_second:,.0f} req/s, {floor_us:.1f} µs of its CPU per request",
        "-",
        "-",
        None,
    )
    with bench.api(bench.base, app="baseline_app:app") as (url, api):
        Wrk.run(f"{url}/analytics", "warmup", 3, bench.directory)
        flask = metered_wrk(bench, url, "baseline", TRACK_SECONDS, parts={"api": lambda: [api.pid, *children(api.pid)]})
    baseline = f"bare Flask {flask.wrk.per_second:,.0f} req/s, p90 {flask.wrk.p90:.0f} ms"
    id = f"wrk-{bench.run}"
    shape = production_shape(bench, TRACK_SECONDS, id)
    # wrk drops the answers still in flight when it stops, up to one per connection: its
    # runs bound the count (the exact checks are hitcount bench's, which waits for them).
    counted = stored(bench.base, id)
    bounded = shape.answered <= counted <= shape.answered + CONNECTIONS
    bench.add(
        f"Track single, production shape (Redis, indexer, Elasticsearch 9), wrk -c{CONNECTIONS}",
        f"{shape.wrk.per_second:,.0f} req/s, p90 {shape.wrk.p90:.0f} ms, p99 {shape.wrk.p99:.0f} ms, "
        f"{shape.wrk.non_2xx} non-2xx, {counted} counted of {shape.answered} 2xx",
        baseline,
        ">= 10,000 req/s, p90 < 100 ms, p99 < 250 ms",
        shape.wrk.per_second >= 10_000 and shape.wrk.p90 < 100 and shape.wrk.p99 < 250 and bounded,
    )
    per_hit = shape.cpu.per_hit(shape.answered)
    bench.add(
        "  API CPU per answered hit, production shape",
        f"{per_hit['api']:.0f} µs ({per_hit['api'] / floor_us:.1f}x the floor)",
        f"floor {floor_us:.1f} µs",
        "<= 3x the floor",
        per_hit["api"] <= 3 * floor_us,
    )
    machine = per_hit["machine"]
    bench.add(
        "  machine CPU per answered hit, split (µs)",
        shape.cpu.describe(shape.answered),
        f"bare Flask {flask.cpu.describe(flask.answered)}",
        "<= 150 µs",
        machine <= 150,
    )
    sqlite = bench.env(queue="sqlite", store="sqlite")
    embedded = pipeline_shape(bench, sqlite, TRACK_SECONDS, id)
    counted = stored(sqlite, id)
    bounded = embedded.answered <= counted <= embedded.answered + CONNECTIONS
    bench.add(
        f"Track single, sqlite shape (indexer on), wrk -c{CONNECTIONS}",
        f"{embedded.wrk.per_second:,.0f} req/s, p90 {embedded.wrk.p90:.0f} ms, "
        f"{counted} counted of {embedded.answered} 2xx; {embedded.cpu.describe(embedded.answered)}",
        baseline,
        ">= 12,000 req/s",
        embedded.wrk.per_second >= 12_000 and bounded,
    )
    with bench.indexer(bench.base), bench.api(bench.base) as (url, _):
        load = Load.run(url, "--rate", "10000", "--duration", f"{TRACK_SECONDS}s", "-w", "2", "-c", "64")
        bench.exact.append(load.exact)
        bench.add(
            "Track single, open loop at 10,000 req/s",
            f"{load.hits_per_second:,.0f} hits/s, p50 {load.p50:.0f} / p90 {load.p90:.0f} / p99 {load.p99:.0f} ms, "
            f"{load.errors} errors, missing {load.missing}, extra {load.extra}",
            "-",
            "p90 < 100 ms, p99 < 250 ms",
            load.p90 < 100 and load.p99 < 250 and load.hits_per_second >= 9_500 and load.errors == 0,
        )
        # Millions of hits: the indexer needs minutes to catch up before they can be verified.
        batch = Load.run(url, "--batch", "1000", "--duration", "20s", "-w", "1", "-c", "8", "--verify-timeout", "15m")
        bench.exact.append(batch.exact)
        bench.add(
            "Track batch endpoint, 1,000 hits a request",
            f"{batch.hits_per_second:,.0f} hits/s, p99 {batch.p99:.0f} ms, "
            f"missing {batch.missing}, extra {batch.extra}",
            f"single hits {shape.wrk.per_second:,.0f} hits/s",
            ">= 100,000 hits/s",
            batch.hits_per_second >= 100_000,
        )
    return shape


def fill(environ: dict[str, str], hits: int, per_batch: int = 1000) -> str:
    """Publish ``hits`` hits of one new id onto the configured queue; return the id."""
    id = f"fill-{uuid.uuid4().hex[:8]}"
    queue = Runtime.load(environ).open_queue()
    now = now_ns()
    for _ in range(hits // per_batch):
        batch = [Hit(id, now - random.randrange(3600 * NS_PER_SECOND)) for _ in range(per_batch)]
        queue.publish(encode_batch(batch), len(batch))
    queue.close()
    return id


def indexer(
    bench: Bench, label: str, environ: dict[str, str], target: float | None, baseline: str | None = None
) -> float:
    """Hits/s of one indexer draining a full queue, against ``baseline`` (default the store's own write speed)."""
    runtime = Runtime.load(environ)
    store = runtime.open_store()
    now = now_ns()
    direct = [[Hit("direct", now - n) for n in range(5000)] for _ in range(INDEXER_HITS // 5000)]
    started = time.perf_counter()
    for batch in direct:
        store.write(batch)
    ceiling = INDEXER_HITS / (time.perf_counter() - started)
    fill(environ, INDEXER_HITS)
    queue = runtime.open_queue()
    with bench.indexer(environ):
        started = time.perf_counter()
        end = time.monotonic() + 600
        while queue.backlog().batches and time.monotonic() < end:
            time.sleep(0.02)
        rate = INDEXER_HITS / (time.perf_counter() - started)
    queue.close()
    store.close()
    bench.add(
        f"Indexer, {label}, one process",
        f"{rate:,.0f} hits/s",
        baseline or f"store.write alone {ceiling:,.0f} hits/s",
        "-" if target is None else f">= {target:,.0f} hits/s",
        None if target is None else rate >= target,
    )
    return rate


def clusters(bench: Bench, single: Shape, single_indexer: float) -> None:
    """Track and the indexer on the clusters (Redis Cluster with WAIT for a replica, 3-node Elasticsearch)
    against the single nodes in the same run: on one machine, what WAIT and cluster routing cost, not scale."""
    print("Clusters", flush=True)
    environ = bench.clusters
    assert environ is not None, "the clusters' rows need Bench(clusters=True)"
    id = f"wrk-clusters-{bench.run}"
    shape = production_shape(bench, TRACK_SECONDS, id, environ)
    counted = stored(environ, id)
    bounded = shape.answered <= counted <= shape.answered + CONNECTIONS
    bench.add(
        f"Track single, clusters (Redis Cluster 3+3, 6 partitions, WAIT 1 replica; Elasticsearch x3),"
        f" wrk -c{CONNECTIONS}",
        f"{shape.describe()}, {counted} counted of {shape.answered} 2xx",
        f"single nodes {single.describe()}",
        "counted = 2xx",
        bounded,
    )
    indexer(bench, "Redis Cluster -> Elasticsearch x3", environ, None, f"single nodes {single_indexer:,.0f} hits/s")


def retrieve(bench: Bench, label: str, environ: dict[str, str], target_ms: float) -> None:
    """p99 of GET /analytics/<id> for an id with many hits among 10,000 others, against GET /healthz."""
    store = Runtime.load(environ).open_store()
    now = now_ns()
    hot = f"hot-{uuid.uuid4().hex[:8]}"
    for _ in range(HOT_HITS // 10_000):
        store.write([Hit(hot, now - random.randrange(LONGEST.length)) for _ in range(10_000)])
    others = [Hit(f"other-{n}", now - random.randrange(LONGEST.length)) for n in range(10_000) for _ in range(10)]
    for start in range(0, len(others), 10_000):
        store.write(others[start : start + 10_000])
    store.refresh()
    store.close()
    with bench.api(environ) as (url, _):
        get_latencies(url, f"/analytics/{hot}", 50)  # warm caches as production traffic would
        reads = get_latencies(url, f"/analytics/{hot}", 500)
        health = get_latencies(url, "/healthz", 500)
        assert count_of(url, hot) > 0
    bench.add(
        f"Retrieve, {label}, {HOT_HITS:,} hits among 10,000 ids",
        f"p50 {statistics.median(reads):.1f} ms, p99 {p99(reads):.1f} ms",
        f"GET /healthz p99 {p99(health):.1f} ms",
        f"p99 < {target_ms:.0f} ms",
        p99(reads) < target_ms,
    )


def availability(bench: Bench) -> None:
    """A hot id's reads while Track runs, and Track while the queue is down (spooling) against the normal path."""
    seconds = TRACK_SECONDS / 2
    print(f"Availability, {seconds:.0f}s each", flush=True)
    hot = f"hot-{bench.run}"
    with bench.indexer(bench.base), bench.api(bench.base) as (url, _):
        bench.exact.append(Load.run(url, "--rate", "1000", "--duration", "2s", "-w", "1", "-c", "8", "-i", hot).exact)
        reads = round(100 * seconds)
        quiet = get_latencies(url, f"/analytics/{hot}", reads, per_second=100)
        tracking = threading.Thread(
            target=lambda: Load.run(url, "--rate", "5000", "--duration", f"{seconds + 2:.0f}s", "-w", "1", "-c", "32")
        )
        tracking.start()
        busy = get_latencies(url, f"/analytics/{hot}", reads, per_second=100)
        tracking.join()
    bench.add(
        "Read, a hot id at 100 reads/s while Track runs at 5,000 hits/s",
        f"p50 {statistics.median(busy):.1f} ms, p99 {p99(busy):.1f} ms",
        f"without Track p99 {p99(quiet):.1f} ms",
        "p99 < 100 ms",
        p99(busy) < 100,
    )
    with bench.api(bench.base) as (url, _):
        normal = Wrk.run(f"{url}/analytics", f"queue-{bench.run}", seconds, bench.directory)
    # Redis refusing connections, as when it is stopped; a data directory of its own, so that
    # no later API of the run forwards this spool.
    down = bench.env(redis_url=f"redis://127.0.0.1:{free_port()}/0", data_dir=str(bench.directory / "spooling"))
    with bench.api(down) as (url, _):
        spooling = Wrk.run(f"{url}/analytics", f"spool-{bench.run}", seconds, bench.directory)
    bench.add(
        f"Track single while Redis is stopped (spooling), wrk -c{CONNECTIONS}",
        f"{spooling.per_second:,.0f} req/s, p90 {spooling.p90:.0f} ms, {spooling.non_2xx} non-2xx",
        f"Redis up {normal.per_second:,.0f} req/s, p90 {normal.p90:.0f} ms",
        "every hit 204",
        spooling.non_2xx == 0 and spooling.socket_errors == 0,
    )


def rate_limit(bench: Bench, rounds: int = 2) -> None:
    """Track with HITCOUNT_RATE_LIMIT on against off, rounds alternated, best of each.

    wrk sends from one address, so the limit on is one it never reaches: what is measured
    is the cost of the bucket every request goes through, not the refusals.
    """
    seconds = TRACK_SECONDS / 2 / rounds
    print(f"Rate limit, {rounds} rounds of {seconds:.0f}s each, on and off", flush=True)
    variants = {"off": bench.base, "on": bench.env(rate_limit="1000000/s")}
    runs: dict[str, list[Shape]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, environ in variants.items():
            with bench.api(environ) as (url, api):
                Wrk.run(f"{url}/analytics", "warmup", 3, bench.directory)
                parts = {"api": lambda: [api.pid, *children(api.pid)]}
                runs[name].append(metered_wrk(bench, url, f"limit-{name}-{bench.run}", seconds, parts=parts))
    on, off = (max(runs[name], key=lambda shape: shape.wrk.per_second) for name in ("on", "off"))

    def described(shape: Shape) -> str:
        api = shape.cpu.per_hit(shape.answered)["api"]
        return f"{shape.wrk.per_second:,.0f} req/s, p90 {shape.wrk.p90:.0f} ms, API {api:.0f} µs/hit"

    bench.add(
        f"Track single, HITCOUNT_RATE_LIMIT=1000000/s (not reached), Redis, wrk -c{CONNECTIONS}",
        f"{described(on)}, {on.wrk.non_2xx} non-2xx",
        f"limit off {described(off)}",
        ">= 90 % of off's req/s, every hit 204",
        on.wrk.per_second >= 0.9 * off.wrk.per_second and on.wrk.non_2xx == 0 and on.wrk.socket_errors == 0,
    )


def memory(bench: Bench) -> None:
    """RSS of API workers and indexer over a long run at 5,000 hits/s."""
    print(f"Memory, {SOAK_SECONDS:.0f}s at 5,000 hits/s", flush=True)
    with bench.indexer(bench.base) as indexer_process, bench.api(bench.base) as (url, api):
        samples: dict[int, list[float]] = {}

        def sample() -> None:
            time.sleep(min(30.0, SOAK_SECONDS / 5))  # warm-up: imports, pools, first allocations
            while load_thread.is_alive():
                for pid in [indexer_process.pid, *children(api.pid)]:
                    with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                        samples.setdefault(pid, []).append(rss_mib(pid))
                time.sleep(5.0)

        result: list[Load] = []
        load_thread = threading.Thread(
            target=lambda: result.append(
                Load.run(url, "--rate", "5000", "--duration", f"{SOAK_SECONDS}s", "-w", "1", "-c", "32")
            )
        )
        load_thread.start()
        sampler = threading.Thread(target=sample)
        sampler.start()
        load_thread.join()
        sampler.join()
    bench.exact.append(result[0].exact)
    growth = {pid: (values[-1] - values[0]) / values[0] for pid, values in samples.items() if len(values) > 1}
    worst = max(growth.values(), default=float("nan"))
    described = ", ".join(
        f"{'indexer' if pid == indexer_process.pid else 'worker'} {samples[pid][0]:.0f}->{samples[pid][-1]:.0f} MiB"
        for pid in growth
    )
    bench.add(
        "Memory, RSS after warm-up vs at the end",
        f"{described}; worst {worst:+.1%}",
        "-",
        "within 10 %",
        worst <= 0.10,
    )


def table(bench: Bench) -> str:
    rows = [("what", "measured", "baseline (same run)", "target", "met")]
    rows += [(row.what, row.measured, row.baseline, row.target, verdict(row.met)) for row in bench.rows]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + "---|" * len(rows[0]))
    return "\n".join(lines)


def main() -> int:
    bench = Bench()
    print(f"hitcount benchmarks, run {bench.run}, {os.cpu_count()} cores, logs in {bench.directory}", flush=True)
    try:
        single = track(bench)
        print("Indexer", flush=True)
        single_indexer = indexer(bench, "Redis -> Elasticsearch", bench.base, 20_000)
        indexer(bench, "embedded sqlite", bench.env(queue="sqlite", store="sqlite"), 50_000)
        print("Retrieve", flush=True)
        retrieve(bench, "Elasticsearch", bench.base, 50)
        retrieve(bench, "sqlite", bench.env(queue="sqlite", store="sqlite"), 20)
        availability(bench)
        rate_limit(bench)
        memory(bench)
        clusters(bench, single, single_indexer)
    finally:
        bench.remove_data()
    exact = all(bench.exact)
    bench.add("End to end, hits answered 2xx = hits counted", f"{len(bench.exact)} runs verified", "-", "exact", exact)
    print()
    print(table(bench))
    (bench.directory / "table.md").write_text(table(bench) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
