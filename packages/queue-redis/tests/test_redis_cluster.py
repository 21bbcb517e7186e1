"""The queue on the shared Redis Cluster: core's conformance suites, partitions spread over the
masters, and publishes that replicas must confirm (HITCOUNT_REDIS_MIN_REPLICAS)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping
from typing import ClassVar

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from hitcount.core import QueueUnavailable
from hitcount.core.testing import CountsCacheConformance, Outage, QueueConformance
from hitcount.core.testing.processes import free_port, wait_until
from hitcount.queue_redis.keys import partitions
from hitcount.queue_redis.queue import RedisQueue
from hitcount.queue_redis.testing import RedisServer

pytestmark = pytest.mark.redis_cluster

QueueOpener = Callable[..., RedisQueue]


def _cluster_state(client: redis.Redis) -> str:
    """``cluster_state`` of CLUSTER INFO: ``ok`` once the node serves every slot."""
    info: dict[str, str] = client.execute_command("CLUSTER INFO")  # type: ignore[no-untyped-call]
    return info["cluster_state"]


class ClusterIsolation:
    @pytest.fixture
    def isolation(self, redis_cluster_url: str, cluster_prefix: str) -> Mapping[str, str]:
        """The shared cluster, under keys of this test alone."""
        return {"HITCOUNT_REDIS_URL": redis_cluster_url, "HITCOUNT_REDIS_PREFIX": cluster_prefix}

    @pytest.fixture
    def outage(self, start_redis: Callable[..., RedisServer]) -> Outage:
        """A Redis Cluster of the test's own, one master holding every slot, killed (-9) or stopped (SIGSTOP).

        The shared cluster is not to be broken, and the cluster client meets an outage its
        own way (no node reachable, its errors not RedisErrors), which the single server does not show.
        """
        server = start_redis("--cluster-enabled", "yes", "--cluster-port", str(free_port()))
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            client.execute_command("CLUSTER ADDSLOTSRANGE", 0, 16383)  # type: ignore[no-untyped-call]
            wait_until(lambda: _cluster_state(client) == "ok", "the cluster to be ok")
        finally:
            client.close()
        # The cluster client tries a hung node several times (about 6 timeouts): short ones keep each case short.
        environment = {"HITCOUNT_REDIS_URL": server.url, "HITCOUNT_REDIS_TIMEOUT": "200ms"}
        return Outage(environment, stop=server.kill, hang=server.pause)


class TestClusterQueue(ClusterIsolation, QueueConformance):
    backend = "redis"


class TestPartitionedClusterQueue(TestClusterQueue):
    environment: ClassVar[Mapping[str, str]] = {"HITCOUNT_REDIS_PARTITIONS": "6"}


class TestClusterCache(ClusterIsolation, CountsCacheConformance):
    backend = "redis"


def test_partitions_spread_over_the_masters(redis_cluster_url: str) -> None:
    cluster = RedisCluster.from_url(redis_cluster_url)
    try:
        streams = [partition.stream for partition in partitions("hitcount", 6)]
        masters = {cluster.get_node_from_key(stream).name for stream in streams}  # type: ignore[no-untyped-call]
    finally:
        cluster.close()
    assert len(masters) == 3


def test_any_node_of_the_cluster_will_do_even_a_replica(
    open_queue: QueueOpener, redis_cluster_url: str, cluster_prefix: str
) -> None:
    cluster = RedisCluster.from_url(redis_cluster_url)
    try:
        replica = cluster.get_replicas()[0]  # type: ignore[no-untyped-call]
    finally:
        cluster.close()
    queue = open_queue(f"redis://{replica.host}:{replica.port}/0", prefix=cluster_prefix, partitions=3)
    for n in range(6):
        queue.publish(b"%d" % n, 1)
    assert queue.backlog().hits == 6


def test_a_publish_is_refused_when_fewer_replicas_than_required_confirm(
    open_queue: QueueOpener, redis_cluster_url: str, cluster_prefix: str
) -> None:
    queue = open_queue(redis_cluster_url, prefix=cluster_prefix, min_replicas=2)
    with pytest.raises(QueueUnavailable, match=r"1 of the HITCOUNT_REDIS_MIN_REPLICAS=2 replicas confirmed"):
        queue.publish(b"batch", 1)


def test_a_publish_is_refused_when_the_server_has_no_replica_to_confirm_it(
    open_queue: QueueOpener, start_redis: Callable[..., RedisServer]
) -> None:
    alone = start_redis()
    with pytest.raises(QueueUnavailable, match=r"0 of the HITCOUNT_REDIS_MIN_REPLICAS=1 replicas confirmed"):
        open_queue(alone.url, min_replicas=1).publish(b"batch", 1)
    open_queue(alone.url).publish(b"batch", 1)  # the default: 0 for a master without replicas


def replica_pid(master_host: str, master_port: int) -> int:
    """The process id of the replica of the master at ``master_host:master_port``."""
    with redis.Redis(host=master_host, port=master_port) as master:
        link = master.info("replication")["slave0"]
    with redis.Redis(host=link["ip"], port=int(link["port"])) as replica:
        return int(replica.info("server")["process_id"])


def test_a_publish_a_master_cannot_have_confirmed_goes_to_another_masters_partition(
    open_queue: QueueOpener, redis_cluster_url: str, cluster_prefix: str
) -> None:
    cluster = RedisCluster.from_url(redis_cluster_url)
    try:
        master = cluster.get_node_from_key(partitions(cluster_prefix, 3)[0].stream)  # type: ignore[no-untyped-call]
    finally:
        cluster.close()
    # Partition 0 of any queue is on that master: alone, a queue has nowhere else to go.
    alone = open_queue(redis_cluster_url, prefix=cluster_prefix, partitions=1)
    spread = open_queue(redis_cluster_url, prefix=cluster_prefix, partitions=3)
    for queue in (alone, spread):
        queue.publish(b"connect", 1)
    pid = replica_pid(master.host, master.port)
    os.kill(pid, signal.SIGSTOP)  # its master's writes go unconfirmed
    try:
        with pytest.raises(QueueUnavailable, match="replicas confirmed"):
            alone.publish(b"alone", 1)
        for n in range(6):
            spread.publish(b"%d" % n, 1)
    finally:
        os.kill(pid, signal.SIGCONT)


def test_readiness_says_when_the_partitions_leave_masters_of_the_cluster_unused(
    open_queue: QueueOpener, redis_cluster_url: str, cluster_prefix: str
) -> None:
    alone = open_queue(redis_cluster_url, prefix=cluster_prefix).health()
    assert alone.ok
    assert "on 1 of the cluster's 3 masters (set HITCOUNT_REDIS_PARTITIONS to at least 6" in alone.detail
    spread = open_queue(redis_cluster_url, prefix=cluster_prefix, partitions=6).health()
    assert "on all 3 masters of the cluster" in spread.detail


def move_slot(cluster: RedisCluster, slot: int, source: ClusterNode, target: ClusterNode) -> None:
    """Move ``slot`` and its keys from ``source`` to ``target``, as ``redis-cli --cluster reshard`` does."""
    with (
        redis.Redis(host=source.host, port=source.port) as old,
        redis.Redis(host=target.host, port=target.port) as new,
    ):
        source_id, target_id = old.cluster("myid"), new.cluster("myid")
        new.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
        old.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
        while keys := old.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
            old.execute_command("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *keys)
        for node in cluster.get_primaries():  # type: ignore[no-untyped-call]
            with redis.Redis(host=node.host, port=node.port) as master:
                master.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)


def test_a_partition_whose_slot_moves_to_another_master_is_followed_without_a_restart(
    open_queue: QueueOpener, redis_cluster_url: str, cluster_prefix: str
) -> None:
    queue = open_queue(redis_cluster_url, prefix=cluster_prefix)
    queue.publish(b"before", 1)
    cluster = RedisCluster.from_url(redis_cluster_url)
    stream = partitions(cluster_prefix, 1)[0].stream
    slot = cluster.keyslot(stream)  # type: ignore[no-untyped-call]
    source = cluster.get_node_from_key(stream)  # type: ignore[no-untyped-call]
    target = next(node for node in cluster.get_primaries() if node.name != source.name)  # type: ignore[no-untyped-call]
    move_slot(cluster, slot, source, target)
    try:
        queue.publish(b"after", 1)  # answered MOVED by the old master, then taken by the new one
        taken = queue.consume("indexer", 10, 1.0)
        assert [delivery.payload for delivery in taken] == [b"before", b"after"]
        queue.ack(taken)
        assert queue.backlog().hits == 0
    finally:
        move_slot(cluster, slot, target, source)  # the layout the other tests expect
        cluster.close()
