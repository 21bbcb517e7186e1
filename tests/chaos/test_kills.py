"""Single kills the randomized run also makes, each pinned once on servers of the chaos run's own (they are killed).

An Elasticsearch that is a single node killed -9 under load (the store down until it is
started again, not merely stopped or paused); the API killed -9 under load with the queue
up; the API killed -9 while its spool forwards to the queue. Each time, every hit the client
got acknowledged counts exactly once.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitcount.api_flask.settings import ApiSettings
from hitcount.api_flask.spool import Spool
from hitcount.api_flask.tuning import Tuning
from hitcount.core import DATA_DIR, Config
from hitcount.core.testing.processes import DEADLINE, wait_until
from hitcount.core.windows import WINDOWS
from tests.chaos.faults import alive, kill, paused
from tests.chaos.servers import DIRECTORY, SINGLE, Servers
from tests.e2e.pipeline import Stack, accepted, load

RATE = 100


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """A Redis and a single-node Elasticsearch of this module's own (not the run's: `make chaos` may be running),
    deleted afterwards."""
    servers = Servers(SINGLE, DIRECTORY / "kills", offset=5)
    servers.up()
    yield servers
    servers.down()


@pytest.fixture
def stack(servers: Servers, tmp_path: Path) -> Iterator[Stack]:
    """The production shape (API with 2 workers, two indexers) on those servers."""
    overrides = {
        "HITCOUNT_QUEUE": "redis",
        "HITCOUNT_STORE": "elastic",
        "HITCOUNT_CACHE": "redis",
        "HITCOUNT_REDIS_URL": servers.url(SINGLE.redis),
        "HITCOUNT_ELASTIC_URL": servers.url(SINGLE.elastic),
        "HITCOUNT_WORKERS": "2",
    }
    stack = Stack(tmp_path, overrides)
    stack.start_indexer()
    yield stack
    stack.stop()  # fails the test on a process that ended otherwise than the test declared, or crashed


def new_id() -> str:
    return f"kills-{uuid.uuid4().hex[:12]}"


def test_a_single_elasticsearch_killed_under_load_and_started_again_loses_and_doubles_nothing(
    stack: Stack, servers: Servers
) -> None:
    id = new_id()
    bench = load(stack, id, 30, RATE)
    time.sleep(5)
    [node] = servers.elastic_nodes
    pid = node.pid()
    assert pid is not None
    killed = time.monotonic()
    kill(pid)
    wait_until(lambda: not node.answers(), "the killed Elasticsearch to stop answering")
    time.sleep(max(0.0, 5 - (time.monotonic() - killed)))  # hits go on being acknowledged: the queue keeps them
    servers.up(SINGLE.elastic)
    hits = accepted(bench, 200)
    assert hits > RATE * 30 // 2, bench.output()
    stack.wait_for_counts(id, [hits] * len(WINDOWS))


def test_the_api_killed_under_load_with_the_queue_up_loses_and_doubles_nothing(stack: Stack) -> None:
    id = new_id()
    bench = load(stack, id, 20, RATE)
    time.sleep(5)
    workers = stack.api.children()
    stack.kill(stack.api)  # the master; its workers notice and exit, answers in flight lost: the client resends
    assert stack.api.returncode == -signal.SIGKILL
    wait_until(lambda: not any(alive(pid) for pid in workers), "the API's workers to exit")
    stack.restart_api("api-restarted")
    hits = accepted(bench, 150)
    assert hits > RATE * 20 // 2, bench.output()
    stack.wait_for_counts(id, [hits] * len(WINDOWS))


def test_the_api_killed_while_its_spool_forwards_loses_and_doubles_nothing(stack: Stack, servers: Servers) -> None:
    id = new_id()
    [node] = servers.services.catalog[SINGLE.redis].nodes
    pid = node.pid()
    assert pid is not None
    config = Config(stack.environ)
    spool = Spool.of(config.get(DATA_DIR), ApiSettings.from_config(config), Tuning())
    try:
        # Redis hung: the API spools what it accepts.
        sent = 0
        with paused(pid):
            while spool.backlog().hits < 20000:
                assert stack.post("/analytics/batch", [{"id": id}] * 1000).status == 204
                sent += 1000
        # Redis back: the workers forward the spool; the API is killed before they are done.
        wait_until(lambda: spool.backlog().hits < sent, "the spool to start forwarding", DEADLINE, 0.01)
        workers = stack.api.children()
        stack.kill(stack.api)
        left = spool.backlog().hits
        assert left > 0, "the spool was forwarded before the API was killed: spool more"
        wait_until(lambda: not any(alive(pid) for pid in workers), "the API's workers to exit")
        # The next API on the same data directory forwards the rest (a batch taken but not deleted again).
        stack.restart_api("api-restarted")
        wait_until(lambda: spool.backlog().hits == 0, "the restarted API to forward the spool")
    finally:
        spool.close()
    stack.wait_for_counts(id, [sent] * len(WINDOWS))
