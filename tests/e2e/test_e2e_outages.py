"""Backends going away and coming back: Track keeps answering 204 (spooling), reads answer stale
counts, and nothing answered 204 is lost or counted twice.

Each test runs only where its backend is the configured one (``HITCOUNT_QUEUE=redis``,
``HITCOUNT_STORE=elastic``); they stop real servers, never stand-ins.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hitcount.api_flask.tuning import Tuning
from hitcount.core import WINDOWS
from hitcount.core.testing.processes import wait_until
from scripts.services import Services
from tests.e2e.pipeline import Stack

if TYPE_CHECKING:
    from hitcount.queue_redis.testing import RedisServer


def send(stack: Stack, id: str, requests: int, hits: int = 100) -> int:
    """Send batches that must all be answered 204; return the hits sent."""
    for _ in range(requests):
        assert stack.post("/analytics/batch", [{"id": id}] * hits).status == 204
    return requests * hits


@pytest.fixture
def redis_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Stack, RedisServer]]:
    """A pipeline whose queue is a redis-server of its own, which the test may kill (and settings
    of the test's own, as an indirect parameter)."""
    if os.environ.get("HITCOUNT_QUEUE") != "redis":
        pytest.skip("the queue is not Redis")
    from hitcount.queue_redis.testing import DURABLE, RedisServer

    redis = RedisServer(tmp_path, *DURABLE)
    redis.start()
    (tmp_path / "stack").mkdir()
    stack = Stack(tmp_path / "stack", {"HITCOUNT_REDIS_URL": redis.url, **getattr(request, "param", {})})
    try:
        yield stack, redis
    finally:
        try:
            stack.stop()
        finally:
            redis.kill()


def test_redis_killed_under_load_every_track_is_204_and_each_hit_counted_once_redis_is_back(
    redis_stack: tuple[Stack, RedisServer], id: str
) -> None:
    stack, redis = redis_stack
    sent: list[int] = []
    refused: list[tuple[int, bytes]] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            answer = stack.post("/analytics/batch", [{"id": id}] * 10)
            if answer.status == 204:
                sent.append(10)
            else:
                refused.append((answer.status, answer.body))

    clients = [threading.Thread(target=load) for _ in range(4)]
    for client in clients:
        client.start()
    try:
        wait_until(lambda: len(sent) > 20, "some hits to go through Redis")
        redis.kill()
        during = len(sent)
        wait_until(lambda: len(sent) > during + 20, "hits to be taken while Redis is down")
        ready = stack.request("GET", "/readyz")
        assert (ready.status, ready.json()["degraded"]) == (200, True)
        assert stack.metric("hitcount_api_spool_hits") > 0
        redis.start()
        after = len(sent)
        wait_until(lambda: len(sent) > after + 20, "hits to go through Redis again")
    finally:
        stop.set()
        for client in clients:
            client.join(60)
    assert refused == []
    stack.wait_for_counts(id, [sum(sent)] * len(WINDOWS))
    wait_until(lambda: stack.metric("hitcount_api_spool_hits") == 0, "the spool gauge to show it empty")


def test_the_api_started_while_redis_is_down_spools_then_forwards_once_redis_is_up(
    redis_stack: tuple[Stack, RedisServer], id: str
) -> None:
    stack, redis = redis_stack
    redis.kill()
    assert stack.api.stop() == 0
    stack.restart_api("api-started-while-redis-is-down")
    assert stack.post("/analytics", {"id": id}).status == 204
    assert stack.request("GET", "/readyz").json()["checks"]["queue"]["ok"] is False
    redis.start()
    wait_until(lambda: stack.request("GET", "/readyz").json()["degraded"] is False, "the API to see Redis back")
    stack.wait_for_counts(id, [1] * len(WINDOWS))


def test_the_api_killed_while_spooling_loses_nothing(redis_stack: tuple[Stack, RedisServer], id: str) -> None:
    stack, redis = redis_stack
    assert stack.api.stop() == 0
    stack.restart_api("api-to-be-killed", group=True)  # its workers die with it
    redis.kill()
    sent = send(stack, id, 5)
    stack.kill(stack.api)
    redis.start()
    stack.restart_api("api-after-the-kill")
    stack.wait_for_counts(id, [sent] * len(WINDOWS))


def client_hit(id: str) -> dict[str, object]:
    """A hit as a client that retries sends it: a uid of its own and the time of its first attempt."""
    return {"id": id, "uid": str(uuid.uuid4()), "timestamp": time.time_ns() // 1_000_000}


# Redis hangs longer than the API waits for the queue (the enqueue timeout, 1 s) but not as
# long as the API's Redis client waits for Redis (3 s here, the most that keeps a publish within
# the spool's lease): the client gets its 503, and the publish under way goes through once Redis
# is back, as in issue 12. The last read waits out the read max age, so that the counts it checks
# are the store's, not those kept before the resends.
@pytest.mark.parametrize(
    "redis_stack",
    [{"HITCOUNT_REDIS_TIMEOUT": "3s"}],
    indirect=True,
    ids=["redis-timeout-3s"],
)
def test_a_hit_answered_503_across_a_redis_pause_and_resent_with_its_uid_is_counted_once(
    redis_stack: tuple[Stack, RedisServer], id: str
) -> None:
    stack, redis = redis_stack
    before, during = client_hit(id), client_hit(id)
    assert stack.post("/analytics", before).status == 204
    redis.pause()
    try:
        refused = stack.post("/analytics", during)  # answered once the API's 1 s is up, Redis still hung
    finally:
        redis.resume()
    assert refused.status == 503, refused.body
    # The refused hit reached the queue all the same.
    stack.wait_for_counts(id, [2] * len(WINDOWS))
    for _ in range(2):  # the client's retries, and a second lost answer
        assert stack.post("/analytics", during).status == 204
        assert stack.post("/analytics", before).status == 204
    assert stack.post("/analytics/batch", [before, during]).status == 204
    time.sleep(Tuning().read_max_age)
    stack.wait_for_counts(id, [2] * len(WINDOWS))


def test_elasticsearch_stopped_while_the_indexer_runs_loses_nothing(stack: Stack, id: str) -> None:
    if os.environ.get("HITCOUNT_STORE") != "elastic":
        pytest.skip("the store is not Elasticsearch")
    url = os.environ["HITCOUNT_ELASTIC_URL"]
    services = Services()
    service = services.service_at(url)
    if service is None:
        pytest.fail(
            f"HITCOUNT_ELASTIC_URL={url} is no Elasticsearch this checkout's scripts/services.py runs with the"
            " SERVICES_* ports of this environment, and this test restarts it"
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


def _elastic_pid() -> int:
    """The process id of the Elasticsearch node of HITCOUNT_ELASTIC_URL, which this checkout runs."""
    url = os.environ["HITCOUNT_ELASTIC_URL"]
    services = Services()
    name = services.service_at(url)
    pid = None if name is None else services.catalog[name].nodes[0].pid()
    if pid is None:
        pytest.fail(f"HITCOUNT_ELASTIC_URL={url} is no Elasticsearch this checkout's scripts/services.py runs")
    return pid


def test_elasticsearch_hung_reads_answer_stale_counts_in_time_and_the_indexer_resumes(stack: Stack, id: str) -> None:
    if os.environ.get("HITCOUNT_STORE") != "elastic":
        pytest.skip("the store is not Elasticsearch")
    pid = _elastic_pid()
    sent = send(stack, id, 3)
    stack.wait_for_counts(id, [sent] * len(WINDOWS))
    os.kill(pid, signal.SIGSTOP)  # a hang: connections stay open, nothing answers
    try:
        time.sleep(Tuning().read_max_age + 0.5)  # the counts kept are now older than the read max age
        started = time.monotonic()
        answer = stack.request("GET", f"/analytics/{id}")
        elapsed = time.monotonic() - started
        assert answer.status == 200
        # The read timeout (1 s) and a loaded machine's slack, never the store's own 10 s timeout.
        assert elapsed < 5, f"a stale answer took {elapsed:.2f}s"
        assert int(answer.headers["age"]) >= 2
        assert [window["count"] for window in answer.json()["counts"]] == [sent] * len(WINDOWS)
        # No counts kept for this one: 503, saying nothing of where the store is.
        unknown = stack.request("GET", f"/analytics/{id}-never-read")
        assert (unknown.status, unknown.json()) == (503, {"message": "the store cannot answer now"})
        sent += send(stack, id, 3)  # Track does not need the store
        time.sleep(3)
        assert stack.indexer.running(), "the indexer gave up while Elasticsearch hung"
    finally:
        os.kill(pid, signal.SIGCONT)
    stack.wait_for_counts(id, [sent] * len(WINDOWS))


def test_a_hot_id_read_a_thousand_times_asks_the_store_a_few_times(stack: Stack, id: str) -> None:
    send(stack, id, 1)
    before = stack.metric("hitcount_api_store_read_seconds_count")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(lambda _: stack.request("GET", f"/analytics/{id}").status, range(1000)))
    elapsed = time.monotonic() - started
    asked = stack.metric("hitcount_api_store_read_seconds_count") - before
    assert statuses == [200] * 1000
    # Each worker asks at most once per read max age (2 s), one id at a time.
    workers = int(stack.environ.get("HITCOUNT_WORKERS", "2"))
    assert 1 <= asked <= workers * (math.ceil(elapsed / 2) + 1), f"{asked} store reads in {elapsed:.1f}s"
