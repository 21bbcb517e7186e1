"""The chaos run's own Redis and Elasticsearch, which it kills: scripts/services.py on a private directory and ports.

The shared servers of ``var/services.env`` serve every other test and must never be
killed, so the run starts the same services (the same code, fsync settings and
integ-test distribution) with their files under ``var/chaos`` and on ports of their own,
starts a killed node again through :meth:`Services.up` (it starts what does not run and
waits), and deletes the nodes' data when the shape is done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import redis

from scripts.services import Node, RedisClusterNode, Services, port_open
from scripts.services_env import ROOT, settings_prefix

# Private ports, away from services.py's defaults (the shared servers): HTTP and transport of
# Elasticsearch, the first of consecutive ones for the clusters (a Redis Cluster's buses on +10000).
PORTS = {
    "redis": (26379, None),
    "redis-cluster": (27100, None),
    "elastic9": (29209, 29309),
    "elastic-cluster": (29401, 29501),
}
DIRECTORY = ROOT / "var" / "chaos"


@dataclass(frozen=True)
class Shape:
    """Which services carry the pipeline: the single-node ones or the clusters."""

    name: str
    redis: str
    elastic: str
    # Extra settings of the pipeline on this shape.
    settings: tuple[tuple[str, str], ...] = ()


SINGLE = Shape("single", "redis", "elastic9")
# Partitions on every master, so that a master lost takes its share, not all publishes.
CLUSTERS = Shape("clusters", "redis-cluster", "elastic-cluster", (("HITCOUNT_REDIS_PARTITIONS", "6"),))
SHAPES = {shape.name: shape for shape in (SINGLE, CLUSTERS)}


class Servers:
    """The private services of one shape: started, their nodes by kind, restarted, purged."""

    def __init__(self, shape: Shape, directory: Path = DIRECTORY, offset: int = 0) -> None:
        """Files under ``directory``, on the ports of :data:`PORTS` plus ``offset`` (or plus the next multiple of
        10 beyond it whose ports are all free: other checkouts may run servers of their own on any port). Two
        sets of servers (the run's and a test's) must differ in both."""
        self.shape = shape
        offset = free_offset(offset)
        environ: dict[str, str] = {"SERVICES_ES_HEAP": "384m"}
        for service, (port, transport) in PORTS.items():
            environ[f"{settings_prefix(service)}_PORT"] = str(port + offset)
            if transport is not None:
                environ[f"{settings_prefix(service)}_TRANSPORT_PORT"] = str(transport + offset)
        self.services = Services(directory, environ)

    @property
    def names(self) -> list[str]:
        return [self.shape.redis, self.shape.elastic]

    def up(self, *names: str) -> None:
        """Start every node of the services named (default: both) that does not run (at first, or after a
        kill) and wait until each serves."""
        self.services.up(list(names) or self.names)

    def down(self) -> None:
        """Stop the nodes and delete their data and logs (the distribution stays, for the next run).

        Once more when a file vanished under the deletion: Elasticsearch's launcher may still be
        cleaning its temporary files after the node's own process has exited.
        """
        try:
            self.services.down(self.names, purge=True)
        except FileNotFoundError:
            time.sleep(2)
            self.services.down(self.names, purge=True)

    def url(self, service: str) -> str:
        return self.services.catalog[service].url

    @property
    def redis_nodes(self) -> tuple[Node, ...]:
        """The Redis nodes a fault may hit: on a cluster, the masters (whose loss costs a failover) but the
        first node, whose URL the pipeline's processes are given (one started after a fault must find the
        cluster); every node but the first when none is a master now (failovers under way)."""
        nodes = self.services.catalog[self.shape.redis].nodes
        if not isinstance(nodes[0], RedisClusterNode):
            return nodes
        return tuple(node for node in nodes[1:] if master(node)) or nodes[1:]

    @property
    def elastic_nodes(self) -> tuple[Node, ...]:
        return self.services.catalog[self.shape.elastic].nodes


def master(node: Node) -> bool:
    """Whether the Redis ``node`` answers as a master now."""
    try:
        with redis.Redis.from_url(node.url, socket_timeout=1) as client:
            return bool(client.info("replication")["role"] == "master")
    except redis.RedisError:
        return False


def free_offset(offset: int) -> int:
    """``offset``, or the first ``offset + 10 * n`` at which no port of :data:`PORTS` (with a cluster's
    consecutive ports and its Redis buses) is in use."""
    for candidate in range(offset, offset + 500, 10):
        ports = [
            port + candidate + step
            for first, transport in PORTS.values()
            for port in (first, first + 10000, *([transport] if transport else []))
            for step in range(6)
        ]
        if not any(port_open(port) for port in ports):
            return candidate
    raise RuntimeError(f"no free ports for the chaos servers at offsets {offset} to {offset + 490} from {PORTS}")
