"""Fixtures for the Redis queue's tests: the shared real Redis, and dedicated servers to break.

Tests that only use Redis share the server named by ``HITCOUNT_REDIS_URL`` (nox passes the
one ``scripts/services.py`` started) and the cluster of ``SERVICES_REDIS_CLUSTER_URL``, each
under a key prefix of its own that is deleted afterwards. Tests that stop, kill or restart
Redis start a server of their own instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from hitcount.queue_redis.queue import RedisQueue
from hitcount.queue_redis.testing import DURABLE, RedisServer


def _service_url(variable: str, service: str) -> str:
    """The URL of a shared server of scripts/services.py; running these tests without it is an error, not a skip."""
    url = os.environ.get(variable)
    if not url:
        pytest.fail(f"{variable} is not set: run `scripts/services.py up {service}` and the nox session queue_redis")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared server."""
    return _service_url("HITCOUNT_REDIS_URL", "redis")


@pytest.fixture(scope="session")
def redis_cluster_url() -> str:
    """A node of the shared Redis Cluster."""
    return _service_url("SERVICES_REDIS_CLUSTER_URL", "redis-cluster")


def _delete_prefixed(client: redis.Redis | RedisCluster, prefix: str) -> None:
    """Delete the keys under ``prefix`` (on every master, for a cluster)."""
    for key in list(client.scan_iter(match=f"{prefix}*", count=1000)):
        client.delete(key)
    client.close()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix for this test alone; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix
    _delete_prefixed(redis.Redis.from_url(redis_url), prefix)


@pytest.fixture
def cluster_prefix(redis_cluster_url: str) -> Iterator[str]:
    """A key prefix for this test alone on the shared cluster; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix
    _delete_prefixed(RedisCluster.from_url(redis_cluster_url), prefix)


@pytest.fixture
def open_queue(redis_url: str, prefix: str) -> Iterator[Callable[..., RedisQueue]]:
    """``open_queue(url, **values)`` opens a RedisQueue on this test's prefix; all are closed afterwards.

    Keyword arguments are the constructor's, e.g. ``partitions=4`` or ``max_backlog=1000``.
    """
    opened: list[RedisQueue] = []

    def open_queue(url: str = redis_url, **values: Any) -> RedisQueue:
        opened.append(RedisQueue(url, **{"prefix": prefix, **values}))
        return opened[-1]

    yield open_queue
    for queue in opened:
        queue.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client of the shared server, to look at the keys directly."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def start_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """``start_redis(*options)`` starts a dedicated redis-server; every one is killed afterwards."""
    servers: list[RedisServer] = []

    def start(*options: str) -> RedisServer:
        directory = tmp_path / f"redis-{len(servers)}"
        directory.mkdir()
        servers.append(RedisServer(directory, *options))
        try:
            servers[-1].start()
        except RuntimeError as error:
            pytest.fail(str(error))
        return servers[-1]

    yield start
    for server in servers:
        server.kill()


@pytest.fixture
def durable_redis(start_redis: Callable[..., RedisServer]) -> RedisServer:
    """A dedicated server that keeps every acknowledged write across a kill -9 (see DURABLE)."""
    return start_redis(*DURABLE)
