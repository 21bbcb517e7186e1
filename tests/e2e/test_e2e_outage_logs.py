"""An outage is a few log lines, each saying what is down and what hitcount does about it: the API and
the indexer under load for ~10 s with Elasticsearch, or Redis, where nothing listens.

Before, the client libraries' retry warnings and tracebacks wrote thousands of lines in such a run
(elastic_transport's "Retrying request" with a traceback per attempt, its node pool's "has failed for
N times in a row"), and hitcount's own lines one per failed call.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from hitcount.core.testing.processes import free_port, wait_until
from tests.e2e.pipeline import Stack

# Lines of the processes' own lives (gunicorn's, the indexer's start and stop), not of the outage.
LIFECYCLE = re.compile(
    r"INFO gunicorn\.error: (Starting gunicorn|Listening at|Using worker|Booting worker|Worker ready|Handling signal"
    r"|Worker exiting|Shutting down)"
    r"|INFO hitcount\.indexer\.indexer: (indexer \S+ (consuming|stopped)|retention: removed)"
    r"|INFO hitcount\.core\.runtime: data directory "
)
SECONDS = 10.0
# What an outage may write per process (per API worker) in that time: the backend down, an answer it
# gives, a duty that failed.
HANDFUL = 4


def outage_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if not LIFECYCLE.search(line)]


def run_under_load(stack: Stack) -> None:
    """Tracks and reads for SECONDS, as clients keep sending during an outage."""
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:
        assert stack.post("/analytics/batch", [{"id": "outage"}] * 5).status in {204, 503}
        stack.request("GET", "/analytics/outage")
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("down", "plugin"),
    [
        pytest.param(
            {"HITCOUNT_QUEUE": "sqlite", "HITCOUNT_STORE": "elastic"}, "hitcount.store_elastic", id="elasticsearch"
        ),
        pytest.param({"HITCOUNT_QUEUE": "redis", "HITCOUNT_STORE": "sqlite"}, "hitcount.queue_redis", id="redis"),
    ],
)
def test_a_backend_down_for_10s_is_a_handful_of_lines_per_process_and_no_traceback(
    down: dict[str, str], plugin: str, tmp_path: Path
) -> None:
    pytest.importorskip(plugin)
    nowhere = free_port()
    stack = Stack(
        tmp_path,
        {
            **down,
            "HITCOUNT_WORKERS": "2",
            "HITCOUNT_ELASTIC_URL": f"http://127.0.0.1:{nowhere}",
            "HITCOUNT_REDIS_URL": f"redis://127.0.0.1:{nowhere}/0",
        },
    )
    try:
        run_under_load(stack)
    finally:
        stack.stop()
    api, indexer = stack.api.output(), stack.indexer.output()
    for log in (api, indexer):
        assert "Traceback" not in log, log
    assert 1 <= len(outage_lines(api)) <= 2 * HANDFUL, api
    assert 1 <= len(outage_lines(indexer)) <= HANDFUL, indexer
    assert re.search(r"(store|queue) down: ", api + indexer), api + indexer


def test_the_end_of_an_outage_is_one_line_per_process_saying_how_long_it_lasted(tmp_path: Path) -> None:
    pytest.importorskip("hitcount.queue_redis")
    from hitcount.queue_redis.testing import DURABLE, RedisServer

    redis = RedisServer(tmp_path, *DURABLE)
    redis.start()
    (tmp_path / "stack").mkdir()
    stack = Stack(
        tmp_path / "stack",
        {
            "HITCOUNT_QUEUE": "redis",
            "HITCOUNT_STORE": "sqlite",
            "HITCOUNT_WORKERS": "1",
            "HITCOUNT_REDIS_URL": redis.url,
        },
    )
    try:
        redis.kill()
        run_under_load(stack)
        redis.start()
        wait_until(lambda: "queue back after" in stack.indexer.output(), "the indexer to log that the queue is back")
        # The API's worker finds it back when it forwards its spool (every second).
        wait_until(lambda: "queue back after" in stack.api.output(), "the API to log that the queue is back")
    finally:
        stack.stop()
        redis.kill()
    for log in (stack.api.output(), stack.indexer.output()):
        assert "Traceback" not in log, log
        assert log.count("queue down: ") == 1, log
        assert log.count("queue back after") == 1, log
        assert len(outage_lines(log)) <= HANDFUL, log
