"""Does the shared counts cache earn its plugin kind? Reads with each cache, before and during a store outage.

Two API "hosts" (2 workers each, their own data directories) and one indexer run the production
shape (Redis queue, Elasticsearch store behind a TcpProxy) once per cache: ``redis`` (shared by the
fleet), ``sqlite`` (shared by one host's workers, on its disk) and ``memory`` (each worker's own
copy: what a worker keeps without any cache plugin). For each it prints:

- the store counts that reads cost (the search queries of this run's indices) and read latency, for
  Zipf-distributed reads of ``--ids`` ids at ``--rate`` reads/s through either host;
- during an outage (the store hung), the share of reads of every id answered (stale) rather than
  503, through either host, and then through a host restarted during the outage (a deploy).

Usage (Redis and Elasticsearch from ``make services``)::

    set -a; . var/services.env; set +a
    .venv/bin/python bench/cache.py [--ids 300] [--rate 100] [--seconds 30]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hitcount.core import HitcountError
from hitcount.core.bench.command import count_of
from hitcount.core.testing.outages import TcpProxy
from hitcount.core.testing.processes import Child, free_port, wait_until

CACHES = ("redis", "sqlite", "memory")


class Host:
    """One ``hitcount api`` with 2 workers on a port and a data directory of its own."""

    def __init__(self, environ: dict[str, str], directory: Path, name: str) -> None:
        self.port = free_port()
        self._environ = environ | {
            "HITCOUNT_BIND": f"127.0.0.1:{self.port}",
            "HITCOUNT_DATA_DIR": str(directory / name),
        }
        self._log = directory / f"{name}.log"
        self._child: Child | None = None

    def start(self) -> None:
        self._child = Child([sys.executable, "-m", "hitcount.core.cli", "api"], self._log, self._environ, group=True)
        wait_until(lambda: status(self.port, "GET", "/healthz") == 200, f"the API on {self.port}", 60, 0.2)

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop()


def status(port: int, method: str, path: str, body: bytes | None = None) -> int:
    """The status of one request, 0 when nothing answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body, {"Content-Type": "application/json"} if body else {})
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        connection.close()


def read(port: int, id: str) -> tuple[int, float]:
    started = time.perf_counter()
    code = status(port, "GET", f"/analytics/{urllib.parse.quote(id, safe='')}")
    return code, time.perf_counter() - started


def searches(elastic: str, prefix: str) -> int:
    """Search queries Elasticsearch ran on this run's daily indices (primaries), one per daily index a count reads."""
    with urllib.request.urlopen(f"{elastic}/{prefix}-*,-{prefix}-visitors/_stats/search", timeout=10) as response:
        stats = json.load(response)
    return int(stats["_all"]["primaries"]["search"]["query_total"])


def zipf_ids(ids: list[str], count: int, rng: random.Random) -> list[str]:
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(ids))]
    return rng.choices(ids, weights, k=count)


def run(cache: str, args: argparse.Namespace, directory: Path) -> dict[str, object]:
    elastic = os.environ["HITCOUNT_ELASTIC_URL"].split(",")[0]
    parsed = urllib.parse.urlsplit(elastic)
    proxy = TcpProxy(parsed.hostname or "127.0.0.1", parsed.port or 9200)
    prefix = f"bench-cache-{secrets.token_hex(4)}"
    environ = dict(os.environ) | {
        "HITCOUNT_QUEUE": "redis",
        "HITCOUNT_STORE": "elastic",
        "HITCOUNT_CACHE": cache,
        "HITCOUNT_ELASTIC_URL": f"http://127.0.0.1:{proxy.port}",
        "HITCOUNT_ELASTIC_INDEX_PREFIX": prefix,
        "HITCOUNT_ELASTIC_REFRESH_INTERVAL": "1s",
        "HITCOUNT_REDIS_PREFIX": prefix,
        "HITCOUNT_PUBLIC_IDS": "*",
        "HITCOUNT_READ_RATE_LIMIT": "off",
        "HITCOUNT_WORKERS": "2",
    }
    (directory / cache).mkdir()
    hosts = [Host(environ, directory / cache, name) for name in ("a", "b")]
    indexer = Child(
        [sys.executable, "-m", "hitcount.core.cli", "indexer"],
        directory / cache / "indexer.log",
        environ | {"HITCOUNT_DATA_DIR": str(directory / cache / "indexer")},
        group=True,
    )
    rng = random.Random(1)
    ids = [f"page-{number}" for number in range(args.ids)]
    try:
        for host in hosts:
            host.start()
        for id in ids:
            assert status(hosts[0].port, "POST", "/analytics", json.dumps({"id": id}).encode()) == 204
        wait_until(lambda: stored(hosts[1].port, ids[-1]), "the hits stored", 120, 0.5)
        time.sleep(3)  # every worker's copy of the last id's zero counts is out of date

        before = searches(elastic, prefix)
        plan = zipf_ids(ids, int(args.rate * args.seconds), rng)
        outcomes: list[tuple[int, float]] = []
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            futures = []
            for index, id in enumerate(plan):
                time.sleep(max(0.0, started + index / args.rate - time.monotonic()))
                futures.append(pool.submit(read, rng.choice(hosts).port, id))
            outcomes = [future.result() for future in futures]
        elapsed = time.monotonic() - started
        latencies = sorted(latency for code, latency in outcomes if code == 200)
        store_counts = searches(elastic, prefix) - before

        proxy.hang()
        with ThreadPoolExecutor(32) as pool:
            during = Counter(code for code, _ in pool.map(lambda id: read(rng.choice(hosts).port, id), ids))
        hosts[1].stop()
        hosts[1].start()
        with ThreadPoolExecutor(32) as pool:
            restarted = Counter(code for code, _ in pool.map(lambda id: read(hosts[1].port, id), ids))
        proxy.resume()
        return {
            "cache": cache,
            "reads": len(outcomes),
            "failed": sum(1 for code, _ in outcomes if code != 200),
            "store counts/s": round(store_counts / elapsed, 1),
            "store counts per read": round(store_counts / len(outcomes), 3),
            "p50 ms": round(statistics.median(latencies) * 1000, 2),
            "p90 ms": round(latencies[int(len(latencies) * 0.9)] * 1000, 2),
            "outage: answered": f"{during[200]}/{len(ids)}",
            "outage, restarted host: answered": f"{restarted[200]}/{len(ids)}",
        }
    finally:
        proxy.resume()
        for host in hosts:
            host.stop()
        indexer.stop()
        proxy.stop()


def stored(port: int, id: str) -> bool:
    """Whether the API at ``port`` counts a hit of ``id`` (not while it cannot answer)."""
    try:
        return count_of(f"http://127.0.0.1:{port}", id) > 0
    except HitcountError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--caches", default=",".join(CACHES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hitcount-bench-cache-") as name:
        rows = [run(cache, args, Path(name)) for cache in args.caches.split(",")]
    columns = list(rows[0])
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[column]) for column in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
