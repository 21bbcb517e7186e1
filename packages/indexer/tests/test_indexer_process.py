"""``hitcount indexer`` as real processes on one sqlite queue and store: signals, sharing, metrics."""

from __future__ import annotations

import functools
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hitcount.core import Hit, HitStore, Queue, Runtime, now_ns
from hitcount.core.testing.processes import DEADLINE, Child, free_port, scrape, serves_metrics, wait_until
from hitcount.core.wire import encode_batch


def start_indexer(environ: dict[str, str], log: Path) -> Child:
    """One ``hitcount indexer`` child process logging to ``log``."""
    return Child([sys.executable, "-m", "hitcount.core.cli", "indexer"], log, environ)


def indexed_hits(indexer: Child) -> int:
    """The hits the indexer says it indexed in its last log line."""
    found = re.search(r"stopped: indexed (\d+) hits", indexer.output())
    assert found, indexer.output()
    return int(found.group(1))


def local(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def sample(metrics: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", metrics, re.MULTILINE)
    assert found, f"{name} missing from:\n{metrics}"
    return float(found.group(1))


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    """The environment of the children: sqlite backends in the test's directory, whatever the caller's."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("HITCOUNT_")}
    return {
        **inherited,
        "HITCOUNT_QUEUE": "sqlite",
        "HITCOUNT_STORE": "sqlite",
        "HITCOUNT_DATA_DIR": str(tmp_path),
    }


@pytest.fixture
def runtime(environ: dict[str, str]) -> Runtime:
    return Runtime.load(environ)


@pytest.fixture
def queue(runtime: Runtime) -> Iterator[Queue]:
    queue = runtime.open_queue()
    yield queue
    queue.close()


@pytest.fixture
def store(runtime: Runtime) -> Iterator[HitStore]:
    store = runtime.open_store()
    yield store
    store.close()


@pytest.fixture
def spawn(environ: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """Start indexers with extra settings; any still running at the end are killed."""
    started: list[Child] = []

    def start(**settings: str) -> Child:
        started.append(start_indexer({**environ, **settings}, tmp_path / f"indexer-{len(started)}.log"))
        return started[-1]

    yield start
    for child in started:
        child.kill()


def publish(queue: Queue, batches: int, hits: int) -> int:
    """Publish ``batches`` batches of ``hits`` hits of id ``page``; return the hits published."""
    for _ in range(batches):
        queue.publish(encode_batch([Hit.now("page") for _ in range(hits)]), hits)
    return batches * hits


def counted(store: HitStore) -> int:
    return store.counts("page", now_ns()).values[-1]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_mid_run_exits_0_with_every_consumed_batch_acknowledged(
    spawn: Callable[..., Child], queue: Queue, store: HitStore, environ: dict[str, str], signum: int
) -> None:
    published = publish(queue, 600, 200)
    indexer = spawn()
    wait_until(lambda: counted(store) > 0, "the indexer to write its first batches")
    assert indexer.stop(signum) == 0
    indexed = counted(store)
    # Whatever is left was never delivered: nothing the indexer took is still leased to it.
    waiting = queue.backlog()
    remaining = Runtime.load({**environ, "HITCOUNT_QUEUE_VISIBILITY_TIMEOUT": "1h"}).open_queue()
    left = remaining.consume("inspector", waiting.batches + 1, 0)
    assert len(left) == waiting.batches > 0, "the indexer finished before the signal: publish more"
    assert {delivery.attempts for delivery in left} == {1}
    assert indexed + sum(delivery.hits for delivery in left) == published
    assert indexed_hits(indexer) == indexed


def test_two_indexers_on_one_sqlite_queue_count_every_hit_exactly_once(
    spawn: Callable[..., Child], queue: Queue, store: HitStore
) -> None:
    ports = [free_port(), free_port()]
    indexers = [spawn(HITCOUNT_INDEXER_METRICS_BIND=f"127.0.0.1:{port}") for port in ports]
    for port in ports:
        wait_until(functools.partial(serves_metrics, local(port)), f"the indexer metrics on port {port}")
    # Four store writes' worth (a write gathers up to 10,000 hits), so that neither indexer takes them all.
    published = sum(publish(queue, 1, 100) for _ in range(400))
    wait_until(lambda: queue.backlog().batches == 0, "the indexers to empty the queue")
    assert [indexer.stop() for indexer in indexers] == [0, 0]
    assert counted(store) == published
    shares = [indexed_hits(indexer) for indexer in indexers]
    assert sum(shares) == published, f"some batch was indexed twice: {shares}"
    assert all(shares), f"one indexer did all the work: {shares}"


def test_metrics_endpoint_serves_the_indexer_metrics(
    spawn: Callable[..., Child], queue: Queue, store: HitStore
) -> None:
    port = free_port()
    indexer = spawn(HITCOUNT_INDEXER_METRICS_BIND=f"127.0.0.1:{port}")
    publish(queue, 2, 3)
    queue.publish(b"\xff\xff not a batch", 1)
    wait_until(
        lambda: serves_metrics(local(port)) and "hitcount_indexer_hits_indexed_total 6.0" in scrape(local(port)),
        "6 hits indexed",
    )
    wait_until(lambda: "hitcount_indexer_backlog_batches 0.0" in scrape(local(port)), "the backlog gauge to show 0")
    metrics = scrape(local(port))
    assert sample(metrics, "hitcount_indexer_batches_total") == 2
    assert sample(metrics, "hitcount_indexer_dead_letters_total") == 1
    assert sample(metrics, "hitcount_indexer_store_retries_total") == 0
    assert sample(metrics, "hitcount_indexer_backlog_hits") == 0
    assert sample(metrics, "hitcount_indexer_ingestion_lag_seconds") == 0
    assert indexer.stop() == 0


def test_the_indexer_logs_its_data_directory_as_it_starts(spawn: Callable[..., Child], tmp_path: Path) -> None:
    indexer = spawn()
    wait_until(lambda: "consuming up to" in indexer.output(), "the indexer to start consuming")
    assert f"data directory {tmp_path} (HITCOUNT_DATA_DIR={tmp_path})" in indexer.output()
    assert indexer.stop() == 0


def test_malformed_setting_exits_1_naming_it(spawn: Callable[..., Child]) -> None:
    indexer = spawn(HITCOUNT_INDEXER_MAX_ATTEMPTS="none")
    assert indexer.process.wait(timeout=DEADLINE) == 1
    assert "HITCOUNT_INDEXER_MAX_ATTEMPTS='none' is invalid" in indexer.output()
