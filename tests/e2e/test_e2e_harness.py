"""The pipeline's harness hides no crash: a test fails when a process of its stack died unannounced,
when a log shows a traceback or a restarted gunicorn worker, or when it reads a metric that does not exist.

Each stack here runs on sqlite (what is checked is the harness, not a backend), so the tests
run in the sqlite session only.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitcount.core.testing.processes import wait_until
from tests.e2e.pipeline import Stack


@pytest.fixture
def doomed(tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own, on sqlite, whose stop the test expects to fail."""
    if os.environ.get("HITCOUNT_QUEUE") != "sqlite":
        pytest.skip("the harness is checked once, on sqlite")
    stack = Stack(tmp_path, {"HITCOUNT_QUEUE": "sqlite", "HITCOUNT_STORE": "sqlite"})
    yield stack
    for child in stack.children:
        child.kill()


def test_an_indexer_that_died_unannounced_fails_the_stop(doomed: Stack) -> None:
    second = doomed.start_indexer()
    os.kill(second.pid, signal.SIGKILL)
    wait_until(lambda: not second.running(), "the indexer to die")
    with pytest.raises(pytest.fail.Exception, match=r"indexer-1 exited with -9, expected 0"):
        doomed.stop()


def test_an_indexer_the_test_killed_through_the_stack_does_not_fail_the_stop(doomed: Stack) -> None:
    doomed.kill(doomed.start_indexer())
    doomed.stop()


def test_a_gunicorn_worker_killed_and_replaced_fails_the_stop(doomed: Stack) -> None:
    wait_until(lambda: doomed.api.output().count("Worker ready") == 2, "both workers to be ready")
    os.kill(doomed.api.children()[0], signal.SIGKILL)
    # Until the new worker is ready: a worker sent SIGTERM while it boots may never exit.
    wait_until(lambda: doomed.api.output().count("Worker ready") == 3, "gunicorn to replace the worker")
    with pytest.raises(pytest.fail.Exception, match=r"(?s)1 gunicorn workers were sent SIGKILL, 0 by the test.*"):
        doomed.stop()


def test_a_gunicorn_worker_the_test_killed_through_the_stack_does_not_fail_the_stop(doomed: Stack) -> None:
    doomed.kill_worker()
    doomed.stop()


def test_a_traceback_in_a_log_fails_the_stop(doomed: Stack) -> None:
    # What any process prints of an exception it did not handle (and survived, or not).
    with doomed.indexer.log.open("a") as log:
        log.write('Traceback (most recent call last):\n  File "x.py", line 1\nValueError: boom\n')
    with pytest.raises(pytest.fail.Exception, match=r"indexer-0.log: Traceback"):
        doomed.stop()


def test_a_metric_the_api_does_not_export_is_an_error_not_zero(stack: Stack) -> None:
    with pytest.raises(LookupError, match="hitcount_api_no_such_thing"):
        stack.metric("hitcount_api_no_such_thing")
    # A family the API declares, of a label set nothing was counted in yet: 0.
    assert stack.metric('hitcount_api_hits_rejected_total{reason="never-given"}') == 0
