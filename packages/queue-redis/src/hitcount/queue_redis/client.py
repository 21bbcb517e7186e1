"""The Redis clients every hitcount Redis backend uses: bounded waits, no retries, one server or a cluster."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from hitcount.core import HitcountError
from hitcount.core.masking import Secrets

# What a backend talks to: one server, or redis-py's cluster client, which sends each command
# to the master of its key's slot and follows failovers and resharding (MOVED, ASK).
Client = redis.Redis | RedisCluster
# Connections a process opens at most for each of its clients (per node, on a cluster); a caller
# beyond waits up to the timeout for a free one, so that a burst queues instead of opening sockets
# without bound.
MAX_CONNECTIONS = 50


def _bounds(socket_timeout: float, timeout: float, max_connections: int) -> dict[str, object]:
    """Every wait bounded: connecting, answering, waiting for a free connection; never retried.

    No retries: a failed publish must reach the API within a second, as a 503; and a retried
    publish whose first answer was lost would be appended twice.
    """
    return {
        "max_connections": max_connections,
        "timeout": timeout,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }


def bounded_client(url: str, socket_timeout: float, timeout: float, max_connections: int) -> redis.Redis:
    """A client of the one server at ``url`` whose every wait is bounded (see :func:`_bounds`)."""
    pool = redis.BlockingConnectionPool.from_url(url, **_bounds(socket_timeout, timeout, max_connections))
    return redis.Redis.from_pool(pool)  # owns the pool: close() closes its connections


@dataclass(frozen=True)
class Topology:
    """What the server at the URL said of itself when first reached."""

    cluster: bool
    # Whether its master has replicas (it is one, or a master with some connected).
    replicated: bool


def probe(url: str, timeout: float) -> Topology:
    """Ask the server at ``url`` (``INFO``) whether it is a node of a cluster and whether it is replicated."""
    with bounded_client(url, timeout, timeout, 1) as client:
        info = client.info()
    replicated = info.get("role") == "slave" or int(info.get("connected_slaves", 0)) > 0
    return Topology(bool(info.get("cluster_enabled")), replicated)


@dataclass(frozen=True)
class Connection:
    """The clients of one URL and what its server said of itself."""

    topology: Topology
    # Commands answered within the timeout.
    client: Client
    # Blocking reads, which wait in Redis, on sockets that wait ``block`` longer.
    blocking: Client

    def close(self) -> None:
        self.client.close()
        self.blocking.close()


class Connector:
    """Connects to ``url`` at first use, not when made, so that a process that starts while Redis
    is down serves (503s, a spool) and recovers; then knows whether it talks to a cluster."""

    def __init__(self, url: str, timeout: float, block: float = 0.0) -> None:
        self._url = url
        # What the client's words must not show when they quote the URL.
        self.secrets = Secrets.of_urls([url])
        self._timeout = timeout
        self._block = block
        self._lock = threading.Lock()
        self._connection: Connection | None = None

    def get(self) -> Connection:
        """The connection, made now if it was not yet; raises the client's errors when Redis does not answer."""
        with self._lock:
            if self._connection is None:
                topology = probe(self._url, self._timeout)
                self._connection = Connection(topology, self._make(topology, 0.0), self._make(topology, self._block))
            return self._connection

    @property
    def cluster(self) -> bool:
        """Whether the server was found to be a node of a cluster (False until first reached)."""
        connection = self._connection
        return connection is not None and connection.topology.cluster

    def _make(self, topology: Topology, block: float) -> Client:
        if not topology.cluster:
            return bounded_client(self._url, self._timeout + block, self._timeout, MAX_CONNECTIONS)
        bounds = _bounds(self._timeout + block, self._timeout, MAX_CONNECTIONS)
        return RedisCluster.from_url(self._url, connection_pool_class=redis.BlockingConnectionPool, **bounds)

    def follow_topology(self) -> None:
        """After an error on a cluster, have both clients ask again which node serves which slot
        (a failover, a moved slot) and pick another default node, for the next call.

        redis-py does so itself only for errors of the node a command was sent to. A command
        whose keys it must ask a node for (``XREADGROUP``'s, by ``COMMAND GETKEYS`` to its
        default node) fails before that while its default node is dead, and would go on
        failing long after a replica took over; so would a client that saw no error of its
        own (the blocking reads', while the other one met the failover).
        """
        connection = self._connection
        if connection is None or not connection.topology.cluster:
            return
        for client in (connection.client, connection.blocking):
            assert isinstance(client, RedisCluster)
            with contextlib.suppress(redis.RedisError, RedisClusterException):
                client.nodes_manager.initialize()
                client.replace_default_node()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
            self._connection = None


@contextmanager
def unavailable(error: type[HitcountError], what: str, action: str, connector: Connector) -> Iterator[None]:
    """Turn the client's errors into core's ``error`` naming the server (``what``) and the action;
    the secrets of the URL are masked in the client's words, as they are in ``what``. On a cluster,
    ``connector``'s clients then look again at its topology (:meth:`Connector.follow_topology`).

    The cluster client's own errors (no node reachable, a slot no master serves, as during a
    failover) are not ``RedisError``s: they are caught too.
    """
    try:
        yield
    except (redis.RedisError, RedisClusterException) as cause:
        connector.follow_topology()
        raise error(f"{what}: {action} failed: {connector.secrets.mask(str(cause))}") from cause
