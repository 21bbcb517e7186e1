"""The pipeline on a Redis Cluster (3 masters, 3 replicas) and a 3-node Elasticsearch cluster.

The API (2 workers) and two indexers run as real processes; ``hitcount bench`` sends hits,
each with its own uid, resending a hit until it gets a 2xx. Under that load a Redis master
is killed (kill -9; its replica takes over), then the Elasticsearch node that holds the
primary of the day's index: every hit accepted must be counted exactly once, in the API's
answer and in the store itself, before the nodes killed are started again (afterwards, so
that the clusters are whole for whatever runs next). Then an indexer is killed (kill -9) under
load and replaced: again every hit counts once.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from elasticsearch import Elasticsearch

from hitcount.core.testing.processes import wait_until
from hitcount.core.windows import WINDOWS
from hitcount.store_elastic.settings import parse_urls
from hitcount.store_elastic.testing import primary_holders
from scripts.services_env import ROOT
from tests.e2e.pipeline import Stack, accepted, load

# Long enough for both failovers and their recoveries to happen under load.
LOAD_SECONDS = 45
RATE = 300
# A Redis failover takes the cluster's node timeout (2 s) and an election; Elasticsearch
# notices a dead node within seconds too.
RECOVERY = 60.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Partitions on every master, so that a master lost takes its share, not all publishes.
    stack = Stack(tmp_path_factory.mktemp("clusters"), {"HITCOUNT_WORKERS": "2", "HITCOUNT_REDIS_PARTITIONS": "6"})
    stack.start_indexer()
    yield stack
    try:
        stack.stop()
    finally:
        stack.discard_data()


def kill_a_redis_master() -> int:
    """Kill -9 a master other than the node of HITCOUNT_REDIS_URL (which processes started later need
    to find the cluster); its port."""
    url = os.environ["HITCOUNT_REDIS_URL"]
    cluster = redis.RedisCluster.from_url(url)
    try:
        masters = cluster.get_primaries()  # type: ignore[no-untyped-call]
    finally:
        cluster.close()
    master = next(node for node in masters if f":{node.port}" not in url)
    with redis.Redis(host=master.host, port=master.port) as node:
        pid = int(node.info("server")["process_id"])
    os.kill(pid, signal.SIGKILL)
    return int(master.port)


def failed_over(dead_port: int) -> bool:
    """Whether every live node says the cluster is ok and knows the dead master failed, its slots
    served by another (its replica took over); before that, the cluster says ok too."""
    for url in redis_nodes(dead_port):
        try:
            with redis.Redis.from_url(url, socket_timeout=2) as node:
                if node.cluster("info")["cluster_state"] != "ok":
                    return False
                dead = node.cluster("nodes")[f"127.0.0.1:{dead_port}"]
        except redis.RedisError:
            return False
        if "fail" not in dead["flags"].split(",") or dead["slots"]:
            return False
    return True


def redis_nodes(dead_port: int) -> list[str]:
    first = int(re.search(r":(\d+)", os.environ["HITCOUNT_REDIS_URL"]).group(1))  # type: ignore[union-attr]
    return [f"redis://127.0.0.1:{port}" for port in range(first, first + 6) if port != dead_port]


def kill_the_elastic_node_of_a_primary(prefix: str) -> str:
    """Kill -9 the node holding a primary shard of the run's indices; its name."""
    client = Elasticsearch(parse_urls(os.environ["HITCOUNT_ELASTIC_URL"]))
    try:
        holders = primary_holders(client, f"{prefix}*")
    finally:
        client.close()
    assert holders, f"no shards of {prefix}* yet"
    name, pid = holders[0]
    os.kill(pid, signal.SIGKILL)
    return name


def restart_clusters() -> None:
    """Start the killed nodes again (scripts/services.py starts what does not run, and waits)."""
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "services.py"), "up", "redis-cluster", "elastic-cluster"], check=True
    )


def test_every_hit_counts_once_through_a_redis_master_and_an_elastic_node_killed_under_load(stack: Stack) -> None:
    id = f"clusters-{uuid.uuid4().hex[:12]}"
    bench = load(stack, id, LOAD_SECONDS, RATE)
    try:
        time.sleep(8)
        dead_port = kill_a_redis_master()
        wait_until(lambda: failed_over(dead_port), "a replica to take over the killed master", RECOVERY, 0.5)
        time.sleep(5)
        kill_the_elastic_node_of_a_primary(stack.environ["HITCOUNT_ELASTIC_INDEX_PREFIX"])
        hits = accepted(bench, LOAD_SECONDS + 150)
        assert hits > RATE * LOAD_SECONDS // 2, bench.output()
        # With both nodes still dead: the pipeline got on without them.
        stack.wait_for_counts(id, [hits] * len(WINDOWS))
    finally:
        restart_clusters()


def test_every_hit_counts_once_through_an_indexer_killed_under_load(stack: Stack) -> None:
    id = f"clusters-{uuid.uuid4().hex[:12]}"
    bench = load(stack, id, 20, RATE)
    time.sleep(5)
    doomed = stack.indexers[0]
    # Mid-stream: at this rate it has batches in hand or in its store write most of the time.
    stack.kill(doomed)
    assert doomed.returncode == -signal.SIGKILL
    stack.indexers.remove(doomed)  # no longer the stack's indexer; stop() still checks how it ended
    time.sleep(5)
    stack.start_indexer()
    hits = accepted(bench, 150)
    assert hits > RATE * 20 // 2, bench.output()
    stack.wait_for_counts(id, [hits] * len(WINDOWS))
