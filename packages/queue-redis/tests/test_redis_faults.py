"""Faults: a consumer process killed holding batches, Redis killed or hung, Redis restarted empty.

Each test prints the hits it sent and counted (``pytest -s`` shows them).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import redis

from hitcount.core import Delivery, Hit, QueueUnavailable, now_ns
from hitcount.core.wire import decode_batch, encode_batch
from hitcount.queue_redis.keys import partitions
from hitcount.queue_redis.queue import RedisQueue
from hitcount.queue_redis.testing import RedisServer

CONSUMER = Path(__file__).with_name("consumer_process.py")
QueueOpener = Callable[..., RedisQueue]


def _batch(name: str, hits: int) -> bytes:
    """A batch whose hits have ids ``<name>/<n>``: the first id names the batch."""
    now = now_ns()
    return encode_batch([Hit(f"{name}/{n}", now) for n in range(hits)])


def _name(delivery: Delivery) -> str:
    return decode_batch(delivery.payload)[0].id.split("/")[0]


def _read_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """One line of the process's output, or a failure after ``timeout`` seconds."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        process.kill()
        pytest.fail(f"{CONSUMER.name} printed nothing within {timeout} s")
    return process.stdout.readline()


def _ack_until_done(queue: RedisQueue, deliveries: Sequence[Delivery], deadline: float) -> None:
    """Acknowledge, retrying while Redis is unavailable, as the indexer does."""
    while True:
        try:
            queue.ack(deliveries)
            return
        except QueueUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_batches_held_by_a_killed_consumer_process_reach_another_consumer(
    open_queue: QueueOpener, redis_url: str, prefix: str
) -> None:
    publisher = open_queue()
    batches, hits_per_batch = 50, 100
    for number in range(batches):
        publisher.publish(_batch(f"b{number}", hits_per_batch), hits_per_batch)
    environ = {
        **os.environ,
        "HITCOUNT_QUEUE": "redis",
        "HITCOUNT_REDIS_URL": redis_url,
        "HITCOUNT_REDIS_PREFIX": prefix,
        "HITCOUNT_QUEUE_VISIBILITY_TIMEOUT": "1s",
    }
    doomed = subprocess.Popen([sys.executable, str(CONSUMER), "10", "20"], stdout=subprocess.PIPE, env=environ)
    report = json.loads(_read_line(doomed, 30))
    doomed.kill()  # SIGKILL, holding 20 batches it never acknowledges
    doomed.wait(10)
    assert doomed.returncode == -9

    survivor = open_queue(visibility_timeout=1)
    received: list[Delivery] = []
    deadline = time.monotonic() + 20
    while len(received) < batches - 10 and time.monotonic() < deadline:
        deliveries = survivor.consume("survivor", 100, 0.5)
        survivor.ack(deliveries)
        received += deliveries

    acked_by_doomed = {hit_id.split("/")[0] for hit_id in report["acked"]}
    survivor_names = Counter(_name(delivery) for delivery in received)
    assert set(report["held"]) <= {delivery.tag for delivery in received}
    assert all(delivery.attempts >= 2 for delivery in received if delivery.tag in report["held"])
    assert not acked_by_doomed & survivor_names.keys()
    assert acked_by_doomed | survivor_names.keys() == {f"b{number}" for number in range(batches)}
    assert set(survivor_names.values()) == {1}
    assert (survivor.backlog().batches, survivor.backlog().hits) == (0, 0)
    counted = (len(acked_by_doomed) + sum(survivor_names.values())) * hits_per_batch
    print(
        f"\nkilled consumer: sent {batches * hits_per_batch} hits; counted {counted}"
        f" ({len(acked_by_doomed) * hits_per_batch} acknowledged by the killed consumer,"
        f" {len(report['held']) * hits_per_batch} redelivered from it)"
    )
    assert counted == batches * hits_per_batch


class _Traffic:
    """A publisher thread and a consumer thread, each going on through QueueUnavailable as the API and indexer do."""

    hits_per_batch = 100

    def __init__(self, publisher: RedisQueue, consumer: RedisQueue) -> None:
        self.publisher, self.consumer = publisher, consumer
        self.published: list[str] = []  # publish returned: must be consumed exactly once
        self.failed: list[str] = []  # publish raised: may be consumed, at most once
        self.consumed: Counter[str] = Counter()
        self.publishing, self.consuming = threading.Event(), threading.Event()
        self.threads = [threading.Thread(target=self._publish), threading.Thread(target=self._consume)]

    def __enter__(self) -> _Traffic:
        self.publishing.set()
        self.consuming.set()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.publishing.clear()
        self.consuming.clear()
        for thread in self.threads:
            thread.join(10)

    def _publish(self) -> None:
        number = 0
        while self.publishing.is_set():
            name = f"p{number}"
            number += 1
            try:
                self.publisher.publish(_batch(name, self.hits_per_batch), self.hits_per_batch)
                self.published.append(name)
            except QueueUnavailable:
                self.failed.append(name)
                time.sleep(0.01)

    def _consume(self) -> None:
        while self.consuming.is_set():
            try:
                deliveries = self.consumer.consume("survivor", 50, 0.2)
            except QueueUnavailable:
                time.sleep(0.05)
                continue
            _ack_until_done(self.consumer, deliveries, time.monotonic() + 30)
            self.consumed.update(_name(delivery) for delivery in deliveries)

    def stop_publishing(self) -> None:
        self.publishing.clear()
        self.threads[0].join(10)


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_every_publish_that_returned_survives_a_kill_9_of_redis_and_is_consumed_once(
    durable_redis: RedisServer, open_queue: QueueOpener
) -> None:
    publisher = open_queue(url=durable_redis.url, partitions=2)
    consumer = open_queue(url=durable_redis.url, partitions=2, visibility_timeout=2)
    with _Traffic(publisher, consumer) as traffic:
        _wait_for(lambda: len(traffic.published) >= 300, "300 publishes before the kill")
        durable_redis.kill()
        _wait_for(lambda: len(traffic.failed) >= 5, "publishes failing while Redis is down")
        durable_redis.start()
        before_restart = len(traffic.published)
        _wait_for(lambda: len(traffic.published) >= before_restart + 300, "300 publishes after the restart")
        traffic.stop_publishing()
        _wait_for(lambda: traffic.consumed.keys() >= set(traffic.published), "every published batch to be consumed")
        _wait_for(lambda: consumer.backlog().batches == 0, "an empty backlog")

    published, failed, consumed = set(traffic.published), set(traffic.failed), traffic.consumed
    assert published <= consumed.keys() <= published | failed
    assert set(consumed.values()) == {1}
    assert consumer.backlog().hits == 0
    hits = traffic.hits_per_batch
    print(
        f"\nkill -9 of redis while publishing: {len(published) * hits} hits published without error,"
        f" {len(failed) * hits} in publishes that raised ({len(consumed.keys() & failed) * hits} of them"
        f" stored before Redis died); {sum(consumed.values()) * hits} hits counted, none twice"
    )


# HITCOUNT_REDIS_TIMEOUT of the fail-fast tests: long enough that a loaded machine's slowness
# stays well under it, so that a call waiting out a second one (a retry) shows.
TIMEOUT = 3.0


def _fails_fast(call: Callable[[], object]) -> None:
    """``call`` returns within one HITCOUNT_REDIS_TIMEOUT and a loaded machine's slack: it neither
    waits for Redis without a bound nor retries."""
    started = time.monotonic()
    call()
    elapsed = time.monotonic() - started
    assert elapsed < 2 * TIMEOUT, f"{elapsed:.1f}s with HITCOUNT_REDIS_TIMEOUT={TIMEOUT:g}s"


def _assert_unhealthy(queue: RedisQueue) -> None:
    health = queue.health()
    assert not health.ok
    assert "health check failed" in health.detail


def test_publish_fails_fast_while_redis_is_down_and_the_same_queue_works_when_it_is_back(
    durable_redis: RedisServer, open_queue: QueueOpener
) -> None:
    queue = open_queue(url=durable_redis.url, timeout=TIMEOUT)
    queue.publish(b"before", 1)
    assert queue.health().ok
    durable_redis.kill()

    def publish() -> None:
        with pytest.raises(QueueUnavailable, match="publish failed"):
            queue.publish(b"during", 1)

    def consume() -> None:
        with pytest.raises(QueueUnavailable, match="consume failed"):
            queue.consume("c1", 10, 0.1)

    _fails_fast(publish)
    _fails_fast(lambda: _assert_unhealthy(queue))
    _fails_fast(consume)

    durable_redis.start()
    queue.publish(b"after", 1)
    assert queue.health().ok
    assert [delivery.payload for delivery in queue.consume("c1", 10, 1.0)] == [b"before", b"after"]


def test_publish_fails_fast_while_redis_hangs_and_the_same_queue_works_when_it_answers_again(
    durable_redis: RedisServer, open_queue: QueueOpener
) -> None:
    queue = open_queue(url=durable_redis.url, timeout=TIMEOUT)
    queue.publish(b"before", 1)
    durable_redis.pause()
    try:

        def publish() -> None:
            with pytest.raises(QueueUnavailable, match="publish failed"):
                queue.publish(b"during", 1)

        _fails_fast(publish)
        _fails_fast(lambda: _assert_unhealthy(queue))
    finally:
        durable_redis.resume()
    queue.publish(b"after", 1)
    assert queue.health().ok
    payloads = [delivery.payload for delivery in queue.consume("c1", 10, 1.0)]
    # A publish that timed out may still have been applied: at most once, in its place.
    assert payloads in ([b"before", b"after"], [b"before", b"during", b"after"])


def test_consumer_group_is_created_again_when_redis_restarts_without_its_data_and_the_loss_is_loud(
    start_redis: Callable[..., RedisServer], open_queue: QueueOpener, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_redis()  # no persistence: a restart loses the streams and the group
    queue = open_queue(url=server.url)
    queue.publish(b"lost with the server", 1)
    assert len(queue.consume("c1", 10, 1.0)) == 1
    assert queue.data_losses() == 0
    server.kill()
    server.start()
    queue.publish(b"after the restart", 1)  # XADD makes the stream again, without the group
    assert [delivery.payload for delivery in queue.consume("c1", 10, 1.0)] == [b"after the restart"]
    assert queue.data_losses() == 1
    [error] = [record for record in caplog.records if record.levelname == "ERROR"]
    assert "Redis lost the stream" in error.getMessage()
    health = queue.health()
    assert "appendonly is no" in health.detail
    assert queue.data_losses() == 1  # the group is there again: nothing more was lost


def test_a_stream_deleted_under_the_queue_is_a_loss_even_to_a_process_that_never_saw_it(
    open_queue: QueueOpener, client: redis.Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    first = open_queue()
    first.publish(b"deleted", 1)
    assert len(first.consume("c1", 10, 1.0)) == 1
    [partition] = partitions(prefix, 1)
    client.delete(partition.stream)
    newcomer = open_queue()
    assert newcomer.consume("c2", 10, 0.1) == []
    assert newcomer.data_losses() == 1
    assert any("Redis lost the stream" in record.getMessage() for record in caplog.records)
