"""Backends going away and coming back: the API says so at once, nothing answered 204 is lost.

Each test runs only where its backend is the configured one (``HITCOUNT_QUEUE=redis``,
``HITCOUNT_STORE=elastic``); they stop real servers, never stand-ins.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hitcount.core import WINDOWS
from hitcount.core.testing.processes import wait_until
from scripts.services import Services
from tests.e2e.pipeline import Stack, hitcount

if TYPE_CHECKING:
    from hitcount.queue_redis.testing import RedisServer


def send(stack: Stack, id: str, requests: int, hits: int = 100) -> int:
    """Send batches that must all be answered 204; return the hits sent."""
    for _ in range(requests):
        assert stack.post("/analytics/batch", [{"id": id}] * hits).status == 204
    return requests * hits


@pytest.fixture
def redis_stack(tmp_path: Path) -> Iterator[tuple[Stack, RedisServer]]:
    """A pipeline whose queue is a redis-server of its own, which the test may kill."""
    if os.environ.get("HITCOUNT_QUEUE") != "redis":
        pytest.skip("the queue is not Redis")
    from hitcount.queue_redis.testing import DURABLE, RedisServer

    redis = RedisServer(tmp_path, *DURABLE)
    redis.start()
    (tmp_path / "stack").mkdir()
    stack = Stack(tmp_path / "stack", {"HITCOUNT_REDIS_URL": redis.url})
    try:
        yield stack, redis
    finally:
        codes = stack.stop()
        redis.kill()
        assert set(codes.values()) <= {0}, f"exit codes {codes}; logs in {stack.directory}"


def test_redis_down_gets_503_within_a_second_and_both_recover_without_restart(
    redis_stack: tuple[Stack, RedisServer], id: str
) -> None:
    stack, redis = redis_stack
    sent = send(stack, id, 3)
    redis.kill()
    started = time.monotonic()
    answer = stack.request("POST", "/analytics", b'{"id": "%s"}' % id.encode())
    elapsed = time.monotonic() - started
    assert answer.status == 503
    assert answer.headers.get("retry-after")
    assert elapsed < 1.5, f"503 came after {elapsed:.2f}s"
    assert stack.request("GET", "/readyz").status == 503
    redis.start()
    wait_until(lambda: stack.request("GET", "/readyz").status == 200, "/readyz to recover")
    wait_until(lambda: stack.post("/analytics", {"id": id}).status == 204, "Track to recover")
    sent += 1 + send(stack, id, 3)
    stack.wait_for_counts(id, [sent] * len(WINDOWS))


def test_the_api_started_while_redis_is_down_answers_503_then_works_once_redis_is_up(
    redis_stack: tuple[Stack, RedisServer], id: str
) -> None:
    stack, redis = redis_stack
    redis.kill()
    assert stack.api.stop() == 0
    stack.api = hitcount("api", stack.environ, stack.directory / "api-started-while-redis-is-down.log")
    wait_until(lambda: _answers(stack, "/healthz"), "the API to serve while Redis is down")
    answer = stack.request("POST", "/analytics", b'{"id": "%s"}' % id.encode())
    assert answer.status == 503
    assert answer.headers.get("retry-after")
    assert stack.request("GET", "/readyz").status == 503
    redis.start()
    wait_until(lambda: stack.request("GET", "/readyz").status == 200, "/readyz once Redis is up")
    assert stack.post("/analytics", {"id": id}).status == 204
    stack.wait_for_counts(id, [1] * len(WINDOWS))


def _answers(stack: Stack, path: str) -> bool:
    try:
        return stack.request("GET", path).status == 200
    except OSError:
        return False


def test_elasticsearch_stopped_while_the_indexer_runs_loses_nothing(stack: Stack, id: str) -> None:
    if os.environ.get("HITCOUNT_STORE") != "elastic":
        pytest.skip("the store is not Elasticsearch")
    url = os.environ["HITCOUNT_ELASTIC_URL"]
    services = Services()
    service = services.service_at(url)
    if service is None:
        pytest.fail(
            f"HITCOUNT_ELASTIC_URL={url} is no Elasticsearch this checkout's scripts/services.py runs with the"
            " HITCOUNT_SERVICES_* ports of this environment, and this test restarts it"
        )
    sent = send(stack, id, 5)
    services.down([service])
    try:
        sent += send(stack, id, 5)  # the queue takes them; the indexer retries its writes
        time.sleep(2)
        assert stack.indexer.running(), "the indexer gave up while Elasticsearch was down"
    finally:
        services.up([service])
    stack.wait_for_counts(id, [sent] * len(WINDOWS))
