"""The connection: password, database number and TLS from HITCOUNT_REDIS_URL, and a server fit to keep batches."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from hitcount.core import QueueUnavailable
from hitcount.core.testing.processes import free_port, wait_until
from hitcount.queue_redis.keys import partitions
from hitcount.queue_redis.queue import RedisQueue
from hitcount.queue_redis.testing import RedisServer

QueueOpener = Callable[..., RedisQueue]


def test_the_password_and_database_of_the_url_are_used(
    start_redis: Callable[..., RedisServer], open_queue: QueueOpener, prefix: str
) -> None:
    server = start_redis("--requirepass", "s3cret")
    queue = open_queue(url=f"redis://:s3cret@127.0.0.1:{server.port}/3")
    queue.publish(b"in db 3", 1)
    stream = partitions(prefix, 1)[0].stream
    with redis.Redis(port=server.port, password="s3cret", db=3) as db3:
        assert db3.xlen(stream) == 1
    with redis.Redis(port=server.port, password="s3cret", db=0) as db0:
        assert not db0.exists(stream)


def test_a_wrong_password_makes_the_queue_unavailable_without_printing_it(
    start_redis: Callable[..., RedisServer], open_queue: QueueOpener
) -> None:
    server = start_redis("--requirepass", "s3cret")
    queue = open_queue(url=f"redis://:wrong-one@127.0.0.1:{server.port}/0")
    health = queue.health()
    assert not health.ok
    assert "wrong-one" not in health.detail
    with pytest.raises(QueueUnavailable) as raised:
        queue.publish(b"refused", 1)
    assert "wrong-one" not in str(raised.value)


def test_a_password_in_the_query_of_the_url_is_masked_too(
    start_redis: Callable[..., RedisServer], open_queue: QueueOpener
) -> None:
    server = start_redis("--requirepass", "s3cret")
    queue = open_queue(url=f"redis://127.0.0.1:{server.port}/0?password=wrong-one")
    health = queue.health()
    assert not health.ok
    assert "password=****" in health.detail
    assert "wrong-one" not in health.detail
    with pytest.raises(QueueUnavailable) as raised:
        queue.publish(b"refused", 1)
    assert "password=****" in str(raised.value)
    assert "wrong-one" not in str(raised.value)


def test_rediss_urls_connect_over_tls_and_verify_the_server(
    start_redis: Callable[..., RedisServer], open_queue: QueueOpener, tmp_path: Path
) -> None:
    certificate, key = tmp_path / "redis.crt", tmp_path / "redis.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    tls_port = free_port()
    tls = ("--tls-port", str(tls_port), "--tls-cert-file", str(certificate), "--tls-key-file", str(key))
    start_redis(*tls, "--tls-auth-clients", "no")
    queue = open_queue(url=f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={certificate}")
    queue.publish(b"over tls", 1)
    assert [delivery.payload for delivery in queue.consume("c1", 10, 1.0)] == [b"over tls"]
    untrusted = open_queue(url=f"rediss://127.0.0.1:{tls_port}/0")
    assert not untrusted.health().ok


def test_health_is_not_ok_when_redis_may_evict_the_queues_keys(
    start_redis: Callable[..., RedisServer], open_queue: QueueOpener
) -> None:
    server = start_redis("--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru")
    health = open_queue(url=server.url).health()
    assert not health.ok
    assert "allkeys-lru" in health.detail


def test_health_says_not_durable_when_redis_runs_without_its_append_only_file(
    start_redis: Callable[..., RedisServer], open_queue: QueueOpener
) -> None:
    health = open_queue(url=start_redis("--appendonly", "no").url).health()
    assert not health.ok
    assert "not durable: appendonly is no" in health.detail


def test_health_shows_the_durability_settings_of_a_durable_redis(
    durable_redis: RedisServer, open_queue: QueueOpener
) -> None:
    health = open_queue(url=durable_redis.url).health()
    assert health.ok
    assert "appendonly yes, appendfsync always, maxmemory-policy noeviction" in health.detail


def test_health_says_unknown_where_redis_does_not_allow_config(
    start_redis: Callable[..., RedisServer], open_queue: QueueOpener
) -> None:
    server = start_redis("--appendonly", "no", "--rename-command", "CONFIG", "")
    health = open_queue(url=server.url).health()
    assert health.ok
    assert "appendonly unknown, appendfsync unknown, maxmemory-policy unknown" in health.detail


def test_closing_the_queue_closes_its_connections(
    start_redis: Callable[..., RedisServer], open_queue: QueueOpener
) -> None:
    server = start_redis()
    queue = open_queue(url=server.url)
    assert queue.consume("c1", 10, 0.1) == []  # waits on a blocking-pool connection
    queue.publish(b"on a publishing-pool connection", 1)
    with redis.Redis(port=server.port) as observer:
        assert int(observer.info("clients")["connected_clients"]) >= 3
        queue.close()
        # Redis frees a client when its loop reads the closed socket, a moment after close().
        wait_until(
            lambda: int(observer.info("clients")["connected_clients"]) == 1, "the queue's connections to close", 5
        )


def test_acknowledging_and_the_backlog_work_after_redis_lost_its_scripts(
    start_redis: Callable[..., RedisServer], open_queue: QueueOpener
) -> None:
    # Both run their scripts as bare EVALSHA in a pipeline: a Redis that lost the scripts
    # (restarted, or SCRIPT FLUSH) must get them loaded again, not fail the call.
    server = start_redis()
    queue = open_queue(url=server.url)
    queue.publish(b"first", 2)
    queue.publish(b"second", 3)
    deliveries = queue.consume("c1", 10, 1.0)
    with redis.Redis(port=server.port) as observer:
        observer.script_flush()
        assert (queue.backlog().batches, queue.backlog().hits) == (2, 5)
        observer.script_flush()
        queue.ack(deliveries)
    assert (queue.backlog().batches, queue.backlog().hits) == (0, 0)
