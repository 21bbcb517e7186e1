"""The ``hitcount bench`` command: spread a plan over processes, report, and verify the counts."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

from hitcount.core.bench.load import REPORT_EVERY, Outcome, Plan, Report, run
from hitcount.core.config import parse_duration
from hitcount.core.errors import HitcountError
from hitcount.core.masking import Secrets, mask_url
from hitcount.core.progress import Progress
from hitcount.core.registry import Command
from hitcount.core.runtime import Runtime
from hitcount.core.windows import LONGEST


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="base URL of the API")
    parser.add_argument("-w", "--workers", type=int, default=os.cpu_count() or 2, help="load processes")
    parser.add_argument("-c", "--connections", type=int, default=32, help="keep-alive connections per process")
    parser.add_argument("-i", "--id", default=None, help="the id every hit counts for (default: a new one)")
    parser.add_argument("--duration", type=parse_duration, default="10s", help="how long to send, e.g. 60s")
    parser.add_argument("--rate", type=float, default=None, help="requests/s in total, open-loop (default: max)")
    parser.add_argument("--batch", type=int, default=0, help="hits per request on /analytics/batch (0: single)")
    parser.add_argument(
        "--timeout", type=parse_duration, default="10s", help="how long an attempt waits for its answer"
    )
    parser.add_argument(
        "--retry-for",
        type=parse_duration,
        default="60s",
        help="how long a request is resent (same uids) before it is given up",
    )
    parser.add_argument(
        "--journal",
        default=None,
        help="directory (created) where each load process writes every hit's uid and whether it was acknowledged",
    )
    parser.add_argument("--verify", action="store_true", help="read the counts back and report missing/extra")
    parser.add_argument("--verify-timeout", type=parse_duration, default="120s", help="how long to wait for counts")


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def load(plan: Plan, workers: int, progress: Progress) -> list[Outcome]:
    """Run ``plan`` in ``workers`` processes, showing rate, p90 and errors as their reports come; their outcomes."""
    context = multiprocessing.get_context("spawn")
    reports: multiprocessing.queues.Queue[Report | Outcome] = context.Queue()
    processes = [context.Process(target=run, args=(plan, reports), daemon=True) for _ in range(workers)]
    for process in processes:
        process.start()
    outcomes: list[Outcome] = []
    started = shown = time.monotonic()
    window: list[float] = []  # latencies since the line was last shown
    errors = 0
    try:
        while len(outcomes) < workers:
            try:
                message = reports.get(timeout=REPORT_EVERY)
            except queue.Empty:
                if failed := [process.exitcode for process in processes if process.exitcode not in (None, 0)]:
                    raise HitcountError(
                        f"a load process ended with exit code {failed[0]} (its error is above)"
                    ) from None
                continue
            if isinstance(message, Outcome):
                outcomes.append(message)
                continue
            window += message.latencies
            errors += message.errors
            now = time.monotonic()
            if now - shown >= REPORT_EVERY:
                window.sort()
                progress.show(
                    f"{now - started:5.1f}s  {len(window) / (now - shown):,.0f} req/s"
                    f"  p90 {1000 * _percentile(window, 0.9):.1f} ms  errors {errors}"
                )
                window, shown = [], now
    finally:
        for process in processes:
            process.join(timeout=REPORT_EVERY)
            if process.is_alive():
                process.terminate()
    return outcomes


def count_of(url: str, id: str) -> int:
    """The id's count in the longest window, read from the API (the run's hits never leave it)."""
    try:
        with urllib.request.urlopen(f"{url}/analytics/{urllib.parse.quote(id, safe='')}", timeout=10) as answer:
            counts = json.load(answer)["counts"]
    except urllib.error.URLError as error:
        raise HitcountError(
            f"cannot read the count of {id!r} from the API at {mask_url(url)} ({error.reason}):"
            " start it (`hitcount serve`) or pass its base URL with --url"
        ) from None
    return int(next(entry["count"] for entry in counts if entry["reference"] == LONGEST.reference))


def verify(url: str, id: str, expected: int, timeout: float) -> tuple[int, float]:
    """Poll until the count reaches ``expected`` and holds, or ``timeout``; return it and the wait."""
    started = time.monotonic()
    counted = -1
    while time.monotonic() - started < timeout:
        counted = count_of(url, id)
        if counted >= expected:
            time.sleep(1.0)  # anything still in flight would show up as extra now
            return count_of(url, id), time.monotonic() - started
        time.sleep(0.5)
    return counted, time.monotonic() - started


def run_bench(arguments: argparse.Namespace, runtime: Runtime) -> int:
    """Send the load, print throughput, latency percentiles and retries, and optionally verify counts.

    Requests answered 503 or not at all are resent with the same hits (uids and timestamps)
    until they get a 2xx (:mod:`hitcount.core.bench.load`); a run fails when a request was
    given up or refused otherwise, or when the counts read back differ from the hits accepted.
    """
    url = arguments.url.rstrip("/")
    id = arguments.id or f"bench-{os.urandom(6).hex()}"
    before = count_of(url, id) if arguments.verify else 0
    workers = max(1, arguments.workers)
    rate = arguments.rate / workers if arguments.rate else None
    plan = Plan(
        url,
        id,
        arguments.batch,
        arguments.connections,
        arguments.duration,
        rate,
        arguments.timeout,
        arguments.retry_for,
        arguments.journal,
    )
    if arguments.journal is not None:
        os.makedirs(arguments.journal, exist_ok=True)
    with Progress() as progress:
        outcomes = load(plan, workers, progress)
    latencies = sorted(latency for outcome in outcomes for latency in outcome.latencies)
    errors: Counter[str] = Counter()
    retries: Counter[str] = Counter()
    for outcome in outcomes:
        errors.update(outcome.errors)
        retries.update(outcome.retries)
    elapsed = max(outcome.elapsed for outcome in outcomes)
    accepted = len(latencies) * plan.hits_per_request
    # The causes are the HTTP client's words, which may quote the URL (and a token in it).
    secrets = runtime.secrets | Secrets.of_urls([url])
    print(f"url {mask_url(url)}  id {id}  workers {workers} x {arguments.connections} connections  {elapsed:.1f}s")
    print(f"requests 2xx {len(latencies)}  errors {sum(errors.values())}  {len(latencies) / elapsed:,.0f} req/s")
    print(f"hits accepted {accepted}  {accepted / elapsed:,.0f} hits/s")
    print(
        "latency ms  p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  max {:.1f}".format(
            *(1000 * _percentile(latencies, fraction) for fraction in (0.5, 0.9, 0.99, 1.0))
        )
    )
    print(f"retries {sum(retries.values())}  (resent with the same uids)")
    for cause, number in retries.most_common():
        print(f"retry {number} x {secrets.mask(cause)}")
    for cause, number in errors.most_common():
        print(f"error {number} x {secrets.mask(cause)}")
    if not arguments.verify:
        return 1 if errors else 0
    counted, waited = verify(url, id, before + accepted, arguments.verify_timeout)
    counted -= before
    print(
        f"verify counted {counted} of {accepted} accepted  missing {max(0, accepted - counted)}"
        f"  extra {max(0, counted - accepted)}  (after {waited:.1f}s)"
    )
    return 1 if errors or counted != accepted else 0


BENCH = Command("bench", "Load a running API and report throughput and latency.", run_bench, configure)
