"""The whole pipeline as real processes: ``hitcount api`` (gunicorn, gevent) and ``hitcount indexer``.

The backends come from the environment (``HITCOUNT_QUEUE``, ``HITCOUNT_STORE`` and their
URLs, which nox passes in), so the same tests run on sqlite, on Redis, and on Redis with
Elasticsearch. Each run gets its own data directory, Redis key prefix and index prefix.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import prometheus_client
import pytest

from hitcount.api_flask import metrics  # noqa: F401 - declares the API's families (api_metric_names)
from hitcount.core import VISIBILITY_TIMEOUT, Runtime, now_ns
from hitcount.core.testing.metrics import exported_names
from hitcount.core.testing.processes import DEADLINE, WORKER_READY, Child, free_port, start_api, wait_until
from hitcount.core.windows import NS_PER_SECOND

# What a log shows of a crash: a traceback (whatever logged it), or gunicorn finding a worker
# hung or dead; it then boots another, so that more boots than HITCOUNT_WORKERS per start tell too.
CRASH = re.compile(r"^Traceback |WORKER TIMEOUT|Worker \(pid:\d+\) exited with code", re.MULTILINE)
WORKER_KILLED = re.compile(r"Worker \(pid:\d+\) was sent SIGKILL")
WORKER_BOOT = re.compile(r"Booting worker with pid")


@functools.cache
def api_metric_names() -> set[str]:
    """Every sample name the API may show, those of families nothing was counted in yet included:
    importing hitcount.api_flask.metrics declared them all in this process's default registry."""
    return exported_names(prometheus_client.generate_latest(prometheus_client.REGISTRY).decode())


def hitcount(command: str) -> list[str]:
    """The command line of ``hitcount <command>`` in this interpreter's environment."""
    return [sys.executable, "-m", "hitcount.core.cli", command]


class Stack:
    """The API and an indexer on a private set of backends, with a client for the API."""

    def __init__(self, directory: Path, overrides: Mapping[str, str] | None = None) -> None:
        run = uuid.uuid4().hex[:12]
        # A killed indexer's batches come back within seconds, not the default 30 s; with Elasticsearch,
        # once its longest write is over (the rule of hitcount.store_elastic.timing: 14.5 s at a 5 s
        # timeout, which a loaded machine's deletes and writes still meet).
        redelivery = {"HITCOUNT_QUEUE_VISIBILITY_TIMEOUT": "2s"}
        if {**os.environ, **(overrides or {})}.get("HITCOUNT_STORE") == "elastic":
            redelivery = {"HITCOUNT_QUEUE_VISIBILITY_TIMEOUT": "15s", "HITCOUNT_ELASTIC_TIMEOUT": "5s"}
        self.port = free_port()
        self.directory = directory
        self.environ = {
            **os.environ,
            "HITCOUNT_BIND": f"127.0.0.1:{self.port}",
            "HITCOUNT_DATA_DIR": str(directory / "data"),
            "HITCOUNT_WORKERS": "2",
            **redelivery,
            "HITCOUNT_REDIS_PREFIX": f"e2e-{run}",
            "HITCOUNT_ELASTIC_INDEX_PREFIX": f"e2e-{run}",
            "HITCOUNT_ELASTIC_REFRESH_INTERVAL": "1s",
            # The tests read from one address as fast as they can (a hot id read 1,000 times); the
            # read limit has tests of its own (packages/api-flask/tests/test_rate_limit.py).
            "HITCOUNT_READ_RATE_LIMIT": "off",
            **(overrides or {}),
        }
        self.runtime = Runtime.load(self.environ)
        self.workers = int(self.environ["HITCOUNT_WORKERS"])
        # Every process started, those replaced or dead included, and the exit code a test declared
        # it caused for some: any other ending fails the test (see :meth:`stop`).
        self.children: list[Child] = []
        self.declared: dict[Child, int] = {}
        # The gunicorn workers a test killed, by API: each one's SIGKILL and replacement are expected.
        self.killed_workers: dict[Child, int] = {}
        self.indexers: list[Child] = []
        self.start_indexer()
        try:
            self.api = self.start_api("api")
        except BaseException:
            self.stop()
            raise

    @property
    def indexer(self) -> Child:
        """The indexer started last."""
        return self.indexers[-1]

    def start_indexer(self, overrides: Mapping[str, str] | None = None) -> Child:
        """Another ``hitcount indexer``, with the stack's settings and ``overrides``."""
        environ = {**self.environ, **(overrides or {})}
        indexer = self.start("indexer", environ, f"indexer-{len(self.indexers)}")
        self.indexers.append(indexer)
        return indexer

    def start(self, command: str, environ: dict[str, str], log: str) -> Child:
        """``hitcount <command>`` logging to ``log``.log, watched until :meth:`stop`."""
        child = Child(hitcount(command), self.directory / f"{log}.log", environ)
        self.children.append(child)
        return child

    def start_api(self, log: str, *, group: bool = False) -> Child:
        """``hitcount api`` logging to ``log``.log once it serves (``group``: see Child), watched until :meth:`stop`."""
        api = start_api(hitcount("api"), self.directory / f"{log}.log", self.environ, group=group)
        self.children.append(api)
        return api

    def kill(self, child: Child) -> None:
        """SIGKILL ``child`` (its group, if it leads one), which must then end killed, not otherwise."""
        self.killed(child)
        child.kill()

    def killed(self, child: Child) -> None:
        """Declare that ``child`` ends killed by SIGKILL, by the test's hand or its own (a test seam)."""
        self.declared[child] = -signal.SIGKILL

    def worker_killed(self) -> None:
        """Declare a gunicorn worker of the API SIGKILLed by the test: its SIGKILL and replacement are expected."""
        self.killed_workers[self.api] = self.killed_workers.get(self.api, 0) + 1

    def kill_worker(self) -> None:
        """SIGKILL a gunicorn worker of the API and wait until gunicorn has replaced it (declared, as :meth:`kill`).

        Every worker is ready before and after: one sent SIGTERM while it boots may never exit.
        """
        workers = self.workers + self.killed_workers.get(self.api, 0)
        wait_until(lambda: self.api.output().count(WORKER_READY) >= workers, "every API worker to be ready")
        [worker, *_] = self.api.children()
        self.worker_killed()
        os.kill(worker, signal.SIGKILL)
        wait_until(lambda: self.api.output().count(WORKER_READY) > workers, "gunicorn to replace the worker")

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Answer:
        """One request on a new connection, with a read token when the API requires one, as its operator's,
        and ``headers`` (http.client sends no User-Agent of its own)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=DEADLINE)
        try:
            sent = {**({} if body is None else {"Content-Type": "application/json"}), **(headers or {})}
            if tokens := self.environ.get("HITCOUNT_READ_TOKENS"):
                sent["Authorization"] = f"Bearer {tokens.split(',')[0].strip()}"
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            answered = {name.lower(): value for name, value in response.getheaders()}
            return Answer(response.status, answered.get("content-type", ""), response.read(), answered)
        finally:
            connection.close()

    def post(self, path: str, document: object, headers: Mapping[str, str] | None = None) -> Answer:
        """POST ``document`` as JSON, with ``headers``."""
        return self.request("POST", path, json.dumps(document).encode(), headers)

    def counts(self, id: str) -> list[int]:
        """The window counts of ``id``, longest window first (``id`` may hold ``#`` or ``?``, as a page's may)."""
        answer = self.request("GET", f"/analytics/{quote(id, safe='/:')}")
        assert answer.status == 200, answer.body
        document = answer.json()
        assert document["id"] == id
        return [window["count"] for window in document["counts"]]

    def wait_for_counts(self, id: str, expected: list[int]) -> None:
        """Wait until ``id`` shows exactly ``expected`` with every batch indexed, so later hits cannot show up.

        Once the queue holds nothing unacknowledged, the store is refreshed (for stores that
        delay visibility) and the counts must be exact: a lost hit shows as too few, a
        doubled one as too many.
        """
        queue = self.runtime.open_queue()
        store = self.runtime.open_store()
        try:
            # A batch of a killed indexer waits out the visibility timeout before it is delivered again.
            redelivered = DEADLINE + self.runtime.config.get(VISIBILITY_TIMEOUT)
            wait_until(lambda: queue.backlog().batches == 0, "the indexer to acknowledge every batch", redelivered)
            store.refresh()
            end = time.monotonic() + DEADLINE
            # The API may answer from its counts cache (up to the read max age, 2 s, old), which
            # could hide a hit counted twice since: the store itself must agree.
            while (counts := self.counts(id)) != expected or (
                counts := list(store.counts(id, now_ns()).values)
            ) != expected:
                if time.monotonic() > end:
                    pytest.fail(f"{id!r} counts {counts} after {DEADLINE:.0f}s, expected {expected}")
                time.sleep(0.1)
        finally:
            queue.close()
            store.close()

    def discard_data(self) -> None:
        """Delete every hit the run stored (its own data directory, or its own daily indices): sealed first,
        since a store that keeps rollups deletes sealed hours only."""
        store = self.runtime.open_store()
        try:
            later = now_ns() + 365 * 86400 * NS_PER_SECOND
            store.seal(later)
            store.purge(later)
        finally:
            store.close()

    def restart_api(self, log: str, *, group: bool = False) -> None:
        """Start a new ``hitcount api`` (the old one stopped or killed), which serves even with its backends down."""
        self.api = self.start_api(log, group=group)

    def metric(self, name: str) -> float:
        """The value of a sample of the API's /metrics (summed over its workers), by its name and labels as shown.

        0 for a sample of a family the API declares but has not counted in yet; LookupError for a
        name the API does not export, which would otherwise read as a count that stays 0.
        """
        for line in self.request("GET", "/metrics").body.decode().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        if name.partition("{")[0] not in api_metric_names():
            raise LookupError(f"the API exports no metric {name!r} (hitcount.api_flask.metrics declares them)")
        return 0.0

    def stop(self) -> None:
        """Stop every process still running, then look at how every process started ended.

        Those that ended before (killed, crashed, replaced) count too: fails the test when one
        exited otherwise than with 0 or the code the test declared (:meth:`kill`), or when a log
        shows a crash (a traceback, gunicorn restarting a worker), even one the pipeline survived.
        """
        codes = {child: child.stop() if child.running() else child.wait() for child in self.children}
        problems = [
            f"{child.log.stem} exited with {code}, expected {self.declared.get(child, 0)}"
            for child, code in codes.items()
            if code != self.declared.get(child, 0)
        ]
        problems += [problem for child in self.children for problem in self.crashes(child)]
        if problems:
            pytest.fail("\n".join([*problems, f"logs in {self.directory}"]), pytrace=False)

    def crashes(self, child: Child) -> list[str]:
        """What ``child``'s log shows of a crash, each as a line for the failure."""
        log = child.output()
        found = [f"{child.log.stem}.log: {match.group(0)}" for match in CRASH.finditer(log)]
        killed = self.killed_workers.get(child, 0)
        if (sigkills := len(WORKER_KILLED.findall(log))) > killed:
            found.append(f"{child.log.stem}.log: {sigkills} gunicorn workers were sent SIGKILL, {killed} by the test")
        workers = self.workers
        if (boots := len(WORKER_BOOT.findall(log))) > workers + killed:
            found.append(
                f"{child.log.stem}.log: {boots} gunicorn workers booted, {workers + killed} expected: one was restarted"
            )
        return found


@dataclass(frozen=True)
class Answer:
    """An HTTP response, read."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def load(stack: Stack, id: str, seconds: float, rate: float, *options: str) -> Child:
    """``hitcount bench`` sending single hits of ``id`` to the stack's API for ``seconds`` at ``rate``/s, in the
    background, each hit with a uid of its own and resent until acknowledged; ``options`` add to or override
    the bench's (its last value of an option counts)."""
    command = [sys.executable, "-m", "hitcount.core.cli", "bench", "--url", f"http://127.0.0.1:{stack.port}"]
    command += ["--id", id, "--duration", f"{seconds}s", "--rate", str(rate), "--workers", "1"]
    command += ["--connections", "16", "--retry-for", "120s", *options]
    return Child(command, stack.directory / f"bench-{id}.log", stack.environ)


def accepted(bench: Child, timeout: float) -> int:
    """The hits a finished ``hitcount bench`` got acknowledged; it must have given none up."""
    code = bench.wait(timeout)
    output = bench.output()
    assert code == 0, output
    found = re.search(r"hits accepted (\d+)", output)
    assert found is not None, output
    return int(found.group(1))
