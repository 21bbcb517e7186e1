"""One benchmark run's setting (services, key prefixes, processes) and the production-shape measurement.

The production shape is what users deploy: the API (``hitcount api``, gevent workers)
publishing to Redis, the indexer bulk-writing to Elasticsearch. :func:`production_shape`
drives it with wrk and reports, beside throughput and latency, the machine CPU each
answered hit cost and how it splits over the API, the indexer, Redis and Elasticsearch.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from cpu import CpuMeter, CpuUsage, children_seconds
from elasticsearch import Elasticsearch
from loads import CONNECTIONS, Wrk
from processes import START_SECONDS, children, wait_http

from hitcount.core import Queue, Runtime, now_ns
from hitcount.core.testing.processes import Child, free_port, start_api
from hitcount.core.windows import LONGEST
from hitcount.store_elastic.testing import delete_prefix
from scripts.services_env import url_of

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "packages" / "api-flask" / "src" / "hitcount" / "api_flask" / "gunicorn.conf.py"
# The interpreter that runs the measured processes: this one, or that of another checkout's
# environment (BENCH_PYTHON in their environment) for a same-run before/after.
PYTHON_VARIABLE = "BENCH_PYTHON"
# A time after every hit's: purging before it deletes everything.


@dataclass
class Row:
    what: str
    measured: str
    baseline: str
    target: str
    met: bool | None


def _hitcount(environ: dict[str, str]) -> list[str]:
    """The ``hitcount`` command line of the interpreter the environment names, by default this one."""
    return [environ.get(PYTHON_VARIABLE, sys.executable), "-m", "hitcount.core.cli"]


def verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "-"}[met]


class Bench:
    """One run: a private key prefix and data directory, the service URLs, and the rows so far."""

    def __init__(self, *, clusters: bool = True) -> None:
        """``clusters``: also the clusters of services.py (``up redis-cluster elastic-cluster``), for their rows."""
        self.run = uuid.uuid4().hex[:8]
        self.directory = ROOT / "var" / "bench" / self.run
        self.directory.mkdir(parents=True)
        self.redis_url = url_of("redis")
        self.elastic_url = url_of("elastic9")
        self.base = {
            **os.environ,
            "HITCOUNT_QUEUE": "redis",
            "HITCOUNT_STORE": "elastic",
            "HITCOUNT_CACHE": "redis",
            "HITCOUNT_REDIS_URL": self.redis_url,
            "HITCOUNT_ELASTIC_URL": self.elastic_url,
            "HITCOUNT_REDIS_PREFIX": f"bench-{self.run}",
            "HITCOUNT_ELASTIC_INDEX_PREFIX": f"bench-{self.run}",
            "HITCOUNT_DATA_DIR": str(self.directory / "data"),
            # The default log level: start_api waits for each worker's "Worker ready" line, which a
            # level of WARNING would hide. Nothing is logged per request (the access log is off).
            "HITCOUNT_WORKERS": "2",
        }
        # The same on the clusters of services.py (Redis Cluster, 3-node Elasticsearch).
        # Partitions on every master, as README.md ("Running on clusters") has users set.
        self.clusters = (
            self.env(redis_url=url_of("redis-cluster"), elastic_url=url_of("elastic-cluster"), redis_partitions="6")
            if clusters
            else None
        )
        self.rows: list[Row] = []
        self.exact: list[bool] = []

    def env(self, **settings: str) -> dict[str, str]:
        """The run's environment with ``HITCOUNT_<KEY>`` overrides."""
        return {**self.base, **{f"HITCOUNT_{key.upper()}": value for key, value in settings.items()}}

    def add(self, what: str, measured: str, baseline: str, target: str, met: bool | None) -> None:
        self.rows.append(Row(what, measured, baseline, target, met))
        print(f"  => {what}: {measured} | baseline {baseline} | target {target} | {verdict(met)}", flush=True)

    @contextmanager
    def api(self, environ: dict[str, str], app: str | None = None) -> Iterator[tuple[str, Child]]:
        """``hitcount api`` (or ``app`` under the same gunicorn configuration) on a free port, once it serves."""
        port = free_port()
        # Read benchmarks send one address's reads as fast as it answers: they measure reads, not their limit.
        environ = {"HITCOUNT_READ_RATE_LIMIT": "off", **environ, "HITCOUNT_BIND": f"127.0.0.1:{port}"}
        command = [*_hitcount(environ), "api"]
        if app:
            command = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--chdir", str(ROOT / "bench"), app]
        process = start_api(command, self.directory / f"api-{port}.log", environ, group=True, deadline=START_SECONDS)
        try:
            yield f"http://127.0.0.1:{port}", process
        finally:
            process.stop()

    def floor(self, seconds: float) -> Shape:
        """wrk against :mod:`floor` (one process), its CPU metered: what a request costs a gevent loop at the least."""
        port = free_port()
        command = [sys.executable, str(ROOT / "bench" / "floor.py"), str(port)]
        process = Child(command, self.directory / f"floor-{port}.log", group=True)
        try:
            wait_http(port)
            Wrk.run(f"http://127.0.0.1:{port}/analytics", "warmup", 3, self.directory)
            return metered_wrk(
                self, f"http://127.0.0.1:{port}", "floor", seconds, parts={"floor": lambda: [process.pid]}
            )
        finally:
            process.stop()

    @contextmanager
    def indexer(self, environ: dict[str, str]) -> Iterator[Child]:
        command = [*_hitcount(environ), "indexer"]
        process = Child(command, self.directory / f"indexer-{uuid.uuid4().hex[:4]}.log", environ, group=True)
        try:
            yield process
        finally:
            process.stop()

    def remove_data(self) -> None:
        """Delete what the run left in the shared servers: its Redis keys, Elasticsearch indices and templates."""
        for environ in (self.base, self.clusters) if self.clusters else (self.base,):
            client = redis_client(environ["HITCOUNT_REDIS_URL"])
            try:
                # On a cluster, scan_iter visits every master.
                keys = list(client.scan_iter(f"{environ['HITCOUNT_REDIS_PREFIX']}:*"))
                for key in keys:
                    client.delete(key)
            finally:
                client.close()
            elastic = Elasticsearch(environ["HITCOUNT_ELASTIC_URL"].split(","), request_timeout=60)
            try:
                delete_prefix(elastic, environ["HITCOUNT_ELASTIC_INDEX_PREFIX"])
            finally:
                elastic.close()

    @staticmethod
    def server_pids(environ: dict[str, str]) -> dict[str, list[int]]:
        """The process ids of every Redis and Elasticsearch node of ``environ``'s URLs, as they report them."""
        client = redis_client(environ["HITCOUNT_REDIS_URL"])
        try:
            if isinstance(client, redis.RedisCluster):
                nodes = [redis.Redis(host=node.host, port=node.port) for node in client.get_nodes()]  # type: ignore[no-untyped-call]
            else:
                nodes = [client]
            redis_pids = [int(node.info("server")["process_id"]) for node in nodes]
        finally:
            client.close()
        elastic = environ["HITCOUNT_ELASTIC_URL"].split(",")[0]
        with urllib.request.urlopen(f"{elastic}/_nodes/process?filter_path=nodes.*.process.id", timeout=10) as answer:
            elastic_pids = [int(node["process"]["id"]) for node in json.load(answer)["nodes"].values()]
        return {"redis": redis_pids, "elasticsearch": elastic_pids}


def redis_client(url: str) -> redis.Redis | redis.RedisCluster:
    """A client of the Redis at ``url``: the cluster's, when it is a node of one."""
    with redis.Redis.from_url(url) as probe:
        cluster = bool(probe.info("cluster").get("cluster_enabled"))
    return redis.RedisCluster.from_url(url) if cluster else redis.Redis.from_url(url)


@dataclass(frozen=True)
class Shape:
    """One production-shape run: what wrk saw and what the machine spent until every answered hit was stored."""

    wrk: Wrk
    cpu: CpuUsage
    settled: float  # seconds from wrk's end until the end of the metering (the queue drained)

    @property
    def answered(self) -> int:
        return self.wrk.requests - self.wrk.non_2xx

    def describe(self) -> str:
        return (
            f"{self.wrk.per_second:,.0f} req/s, p90 {self.wrk.p90:.0f} ms, p99 {self.wrk.p99:.0f} ms, "
            f"{self.cpu.describe(self.answered)}"
        )


def metered_wrk(
    bench: Bench,
    url: str,
    id: str,
    seconds: float,
    *,
    parts: dict[str, Callable[[], list[int]]],
    settle: Callable[[], None] = lambda: None,
    connections: int = CONNECTIONS,
) -> Shape:
    """wrk posting ``id`` to ``url``, CPU metered for ``parts`` from wrk's start until ``settle`` returned."""
    meter = CpuMeter(parts)
    meter.start()
    load = children_seconds()
    measured = Wrk.run(f"{url}/analytics", id, seconds, bench.directory, connections)
    load = children_seconds() - load
    ended = time.monotonic()
    settle()
    settled = time.monotonic() - ended
    return Shape(measured, meter.stop(load), settled)


def pipeline_shape(
    bench: Bench,
    environ: dict[str, str],
    seconds: float,
    id: str,
    *,
    services: dict[str, list[int]] | None = None,
    connections: int = CONNECTIONS,
) -> Shape:
    """wrk against the API with the indexer on, CPU metered from wrk's start until the queue is drained.

    Metering until the queue is empty charges each answered hit with its whole way into
    the store (an acknowledged batch is stored and durable), not only with what the API
    spent while wrk ran. ``services`` names the pids of the servers to meter besides the
    API and the indexer (none for the embedded backends).
    """
    queue = Runtime.load(environ).open_queue()
    try:
        with bench.indexer(environ) as indexer, bench.api(environ) as (url, api):
            Wrk.run(f"{url}/analytics", "warmup", 3, bench.directory, connections)
            wait_drained(queue)
            parts: dict[str, Callable[[], list[int]]] = {
                "api": lambda: [api.pid, *children(api.pid)],
                "indexer": lambda: [indexer.pid],
            }
            parts.update({name: _always(pids) for name, pids in (services or {}).items()})
            settle = lambda: wait_drained(queue)  # noqa: E731
            return metered_wrk(bench, url, id, seconds, parts=parts, settle=settle, connections=connections)
    finally:
        queue.close()


def production_shape(bench: Bench, seconds: float, id: str, environ: dict[str, str] | None = None) -> Shape:
    """:func:`pipeline_shape` on Redis and Elasticsearch (the single nodes, unless ``environ`` says
    otherwise), metering every node of both too."""
    environ = environ or bench.base
    return pipeline_shape(bench, environ, seconds, id, services=bench.server_pids(environ))


def stored(environ: dict[str, str], id: str) -> int:
    """Hits of ``id`` (a run's own) in the store's longest window, once the store has made every write countable."""
    store = Runtime.load(environ).open_store()
    try:
        store.refresh()
        return store.counts(id, now_ns()).by_reference()[LONGEST.reference]
    finally:
        store.close()


def _always(pids: list[int]) -> Callable[[], list[int]]:
    return lambda: pids


def wait_drained(queue: Queue, timeout: float = 300.0) -> None:
    """Until the queue holds no unacknowledged hit."""
    end = time.monotonic() + timeout
    while queue.backlog().hits and time.monotonic() < end:
        time.sleep(0.05)
