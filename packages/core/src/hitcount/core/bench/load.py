"""One load-generating process: connections, arrival schedule, retries and the latencies it saw.

Every hit carries a uid of its own and the time of its first attempt; a request that gets
a 503 (or 408, 429) or no answer in time is sent again, byte for byte, until it gets a 2xx
or ``retry_for`` runs out. The API may have queued the hits of a request it answered 503
or whose answer was lost; the store counts a hit once per uid, so the resent copies count
once, the hits accepted stay exactly the hits counted, and ``--verify`` stays exact.

With a journal directory, each process also writes the uid of every hit it sent and whether
it was acknowledged (:data:`ACKNOWLEDGED`) or given up (:data:`GIVEN_UP`), one
``<uid> <outcome> <epoch seconds> <attempts>`` line each (when that outcome came, after how
many sends), to ``<journal>/<pid>.txt``: what a checker needs to classify every hit as lost,
duplicated or unexpected against what the store holds, and when to look in the logs for one.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from pathlib import Path

from hitcount.core.bench.client import Connection, HttpError, request_bytes

# Answers that say "not now": the request is sent again, with the same uids.
RETRIED_STATUSES = frozenset({408, 429, 503})
# Waits before the first, second, ... retry of a request; the last one repeats (the API's Retry-After is 1 s).
RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0)
# How often each process sends what it saw since its previous report, for the live line.
REPORT_EVERY = 0.5
# The outcomes of a hit in a journal.
ACKNOWLEDGED = "acknowledged"
GIVEN_UP = "given-up"


@dataclass
class Plan:
    """What one process sends: ``rate`` requests/s in total (None: as fast as answers come).

    ``batch`` hits per request on ``/analytics/batch``, or 0 for one hit per request on
    ``/analytics``; a request is resent for at most ``retry_for`` seconds, each attempt
    waiting ``timeout`` seconds for its answer. ``journal``: the directory of the journals,
    or None for none.
    """

    url: str
    id: str
    batch: int
    connections: int
    duration: float
    rate: float | None
    timeout: float
    retry_for: float
    journal: str | None = None

    @property
    def hits_per_request(self) -> int:
        return self.batch or 1

    def request(self) -> tuple[bytes, list[str]]:
        """A new request and the uids of its hits, each of its own, at the time of now, which every retry keeps."""
        milliseconds = time.time_ns() // 1_000_000
        uids = [str(uuid.uuid4()) for _ in range(self.hits_per_request)]
        hits = [{"id": self.id, "uid": uid, "timestamp": milliseconds} for uid in uids]
        if self.batch:
            return request_bytes("POST", f"{self.url}/analytics/batch", json.dumps(hits).encode()), uids
        return request_bytes("POST", f"{self.url}/analytics", json.dumps(hits[0]).encode()), uids


@dataclass
class Outcome:
    """What one process saw: latencies of 2xx answers in seconds (retries included), the
    requests given up by cause, and the retries by cause."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    # The journal's lines, when the plan keeps one.
    journal: list[str] = field(default_factory=list)

    def error(self, cause: str) -> None:
        self.errors[cause] = self.errors.get(cause, 0) + 1

    def retry(self, cause: str) -> None:
        self.retries[cause] = self.retries.get(cause, 0) + 1


@dataclass
class Report:
    """What one process saw since its previous report: the latencies of 2xx answers and the number of errors."""

    latencies: list[float]
    errors: int


async def _closed_loop(plan: Plan, outcome: Outcome, deadline: float) -> None:
    connection = Connection(plan.url)
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        await _one(connection, plan, outcome, started)
    connection.close()


async def _open_loop(plan: Plan, outcome: Outcome, started: float, deadline: float) -> None:
    assert plan.rate
    schedule: asyncio.Queue[float | None] = asyncio.Queue()

    async def send() -> None:
        connection = Connection(plan.url)
        while (scheduled := await schedule.get()) is not None:
            await _one(connection, plan, outcome, scheduled)
        connection.close()

    senders = [asyncio.create_task(send()) for _ in range(plan.connections)]
    interval = 1.0 / plan.rate
    number = 0
    while (due := started + number * interval) < deadline:
        delay = due - time.perf_counter()
        if delay > 0.001:
            await asyncio.sleep(delay)
        schedule.put_nowait(due)  # latency counts from here, however late it is sent
        number += 1
    for _ in senders:
        schedule.put_nowait(None)
    await asyncio.gather(*senders)


async def _one(connection: Connection, plan: Plan, outcome: Outcome, scheduled: float) -> None:
    """Send one request until it gets a 2xx, or give it up: another answer, or ``retry_for`` spent."""
    request, uids = plan.request()
    acknowledged, attempts = await _until_answered(connection, plan, outcome, scheduled, request)
    if plan.journal is not None:
        line = f"{ACKNOWLEDGED if acknowledged else GIVEN_UP} {time.time():.3f} {attempts}"
        outcome.journal += [f"{uid} {line}" for uid in uids]


async def _until_answered(
    connection: Connection, plan: Plan, outcome: Outcome, scheduled: float, request: bytes
) -> tuple[bool, int]:
    """Send ``request`` until it gets a 2xx (True), or give it up (False); and how many times it was sent."""
    give_up = time.perf_counter() + plan.retry_for
    attempt = 0
    while True:
        try:
            status, _ = await asyncio.wait_for(connection.send(request), plan.timeout)
        except HttpError as error:
            cause = f"connection: {error}"
        except asyncio.TimeoutError:
            connection.close()  # the answer may still come: never read it as the next request's
            cause = f"no answer within {plan.timeout:g}s"
        else:
            if 200 <= status < 300:
                outcome.latencies.append(time.perf_counter() - scheduled)
                return True, attempt + 1
            if status not in RETRIED_STATUSES:
                outcome.error(f"HTTP {status}")
                return False, attempt + 1
            cause = f"HTTP {status}"
        delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
        if time.perf_counter() + delay > give_up:
            outcome.error(f"gave up after {plan.retry_for:g}s of retries: {cause}")
            return False, attempt + 1
        outcome.retry(cause)
        await asyncio.sleep(delay)
        attempt += 1


def run(plan: Plan, reports: Queue[Report | Outcome]) -> None:
    """Send the plan's load, put a Report every REPORT_EVERY and then the Outcome (runs in a worker process)."""
    outcome = Outcome()

    async def report() -> None:
        latencies = errors = 0
        while True:
            await asyncio.sleep(REPORT_EVERY)
            total = sum(outcome.errors.values())
            reports.put(Report(outcome.latencies[latencies:], total - errors))
            latencies, errors = len(outcome.latencies), total

    async def main() -> None:
        reporter = asyncio.create_task(report())
        started = time.perf_counter()
        deadline = started + plan.duration
        if plan.rate:
            await _open_loop(plan, outcome, started, deadline)
        else:
            await asyncio.gather(*(_closed_loop(plan, outcome, deadline) for _ in range(plan.connections)))
        outcome.elapsed = time.perf_counter() - started
        reporter.cancel()

    asyncio.run(main())
    if plan.journal is not None:
        Path(plan.journal, f"{os.getpid()}.txt").write_text("".join(f"{line}\n" for line in outcome.journal))
        outcome.journal = []  # written: not sent back through the queue
    reports.put(outcome)
