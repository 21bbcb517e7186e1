"""One load-generating process: connections, arrival schedule and the latencies it saw."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from multiprocessing.queues import Queue

from hitcount.core.bench.client import Connection, HttpError

# How often each process sends what it saw since its previous report, for the live line.
REPORT_EVERY = 0.5


@dataclass
class Plan:
    """What one process sends: ``rate`` requests/s in total (None: as fast as answers come)."""

    url: str
    request: bytes
    connections: int
    duration: float
    rate: float | None
    hits_per_request: int


@dataclass
class Outcome:
    """What one process saw: latencies of 2xx answers in seconds, and the rest counted by cause."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    def error(self, cause: str) -> None:
        self.errors[cause] = self.errors.get(cause, 0) + 1


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
    try:
        status, _ = await connection.send(plan.request)
    except HttpError as error:
        outcome.error(f"connection: {error}")
        await asyncio.sleep(0.01)
        return
    if 200 <= status < 300:
        outcome.latencies.append(time.perf_counter() - scheduled)
    else:
        outcome.error(f"HTTP {status}")


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
    reports.put(outcome)
