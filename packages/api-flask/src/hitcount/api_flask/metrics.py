"""The API's Prometheus metrics and their exposition, safe under several gunicorn workers.

prometheus_client chooses between in-memory and file-backed values when it is imported,
from ``PROMETHEUS_MULTIPROC_DIR``: the shipped ``gunicorn.conf.py`` sets it before any
worker imports this module, and ``/metrics`` then merges every worker's files. Without
it (tests, a single process) the default registry is used.

Accepted hits are counted once per queue write, not per request, to keep a Track
request's own work small.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from hitcount.api_flask.drops import REASONS
from hitcount.core import Backlog

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

HITS_ACCEPTED = Counter("hitcount_api_hits_accepted", "Hits handed to the queue (answered 204).")
HITS_REJECTED = Counter(
    "hitcount_api_hits_rejected",
    "Hits refused, by reason; a body that cannot be read or parsed counts as one.",
    ["reason"],
)
HITS_DROPPED = Counter(
    "hitcount_api_hits_dropped",
    "Hits answered 204 and left out, by reason: bot, prefetch, or dnt (HITCOUNT_RESPECT_DNT).",
    ["reason"],
)
HITS_WITHOUT_VISITOR = Counter(
    "hitcount_api_hits_without_visitor",
    "Hits handed to the queue without a visitor key: the day's salt could not be had from the queue (counted"
    " as hits, not as visitors).",
)
# Every reason shown from the start, at 0, so that a dashboard's rate of it is 0 rather than no data.
for _reason in REASONS:
    HITS_DROPPED.labels(_reason)
PUBLISH_SECONDS = Histogram(
    "hitcount_api_queue_publish_seconds",
    "Latency of one queue write (a group of hits).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
PUBLISH_HITS = Histogram(
    "hitcount_api_queue_publish_hits",
    "Hits per queue write: how well group commit gathers concurrent requests.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
)

READ_CACHE = Counter(
    "hitcount_api_read_cache",
    "Reads by whether the counts cache held counts fresh enough to answer without the store (hit) or not (miss).",
    ["result"],
)
READ_STALE = Counter(
    "hitcount_api_read_stale", "Reads answered with kept counts because the store failed or was too slow."
)
STORE_READ_SECONDS = Histogram(
    "hitcount_api_store_read_seconds",
    "Latency of the store's answers to reads (one per id and worker at a time).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

SPOOLED = Counter(
    "hitcount_api_spooled_hits", "Hits written to this host's spool because the queue could not take them."
)
SPOOL_FORWARDED = Counter("hitcount_api_spool_forwarded_hits", "Spooled hits forwarded to the queue.")
SPOOL_HITS = Gauge("hitcount_api_spool_hits", "Hits waiting in this host's spool.", multiprocess_mode="max")
SPOOL_OLDEST_AGE = Gauge(
    "hitcount_api_spool_oldest_age_seconds",
    "Age of the oldest batch in this host's spool; 0 when it is empty.",
    multiprocess_mode="max",
)


def observe_spool(backlog: Backlog) -> None:
    """What waits in the spool, as every worker sees the same files."""
    SPOOL_HITS.set(backlog.hits)
    oldest = backlog.oldest_published_at
    SPOOL_OLDEST_AGE.set(0 if oldest is None else max(0.0, time.time() - oldest))


def record_publish(hits: int, seconds: float) -> None:
    """One successful queue write of ``hits`` hits that took ``seconds``."""
    HITS_ACCEPTED.inc(hits)
    PUBLISH_SECONDS.observe(seconds)
    PUBLISH_HITS.observe(hits)


def record_rejection(reason: str, hits: int) -> None:
    HITS_REJECTED.labels(reason).inc(hits)


def record_drop(reason: str, hits: int) -> None:
    HITS_DROPPED.labels(reason).inc(hits)


def record_without_visitor(hits: int) -> None:
    HITS_WITHOUT_VISITOR.inc(hits)


def exposition() -> tuple[bytes, str]:
    """The text format of every metric (of every worker, under gunicorn) and its content type."""
    if os.environ.get(MULTIPROC_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
