"""The indexer's Prometheus metrics, in a registry of their own, served when configured.

Module globals, as the API's metrics are (``hitcount.api_flask.metrics``): one indexer runs
per process. The registry is the indexer's own, so that its /metrics shows these alone; tests
in one process see every indexer's counts add up, and compare values before and after.
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from hitcount.core import Backlog

REGISTRY = CollectorRegistry()

HITS_INDEXED = Counter(
    "hitcount_indexer_hits_indexed", "Hits written to the store and acknowledged.", registry=REGISTRY
)
BATCHES = Counter("hitcount_indexer_batches", "Queue batches written to the store and acknowledged.", registry=REGISTRY)
STORE_RETRIES = Counter("hitcount_indexer_store_retries", "Store writes retried after a failure.", registry=REGISTRY)
DEAD_LETTERS = Counter(
    "hitcount_indexer_dead_letters", "Batches set aside as undecodable or refused.", registry=REGISTRY
)
QUEUE_DATA_LOSSES = Counter(
    "hitcount_indexer_queue_data_losses",
    "Times the queue found that its backend had lost batches it held (a Redis restarted without its data).",
    registry=REGISTRY,
)
BACKLOG_BATCHES = Gauge(
    "hitcount_indexer_backlog_batches", "Batches in the queue not yet acknowledged.", registry=REGISTRY
)
BACKLOG_HITS = Gauge("hitcount_indexer_backlog_hits", "Hits in the queue not yet acknowledged.", registry=REGISTRY)
INGESTION_LAG = Gauge(
    "hitcount_indexer_ingestion_lag_seconds",
    "Age of the oldest hit batch not yet indexed; 0 when the queue is empty.",
    registry=REGISTRY,
)


def observe_backlog(backlog: Backlog, now: float) -> None:
    """Set the backlog gauges from one :meth:`Queue.backlog` answer taken at ``now`` (epoch s)."""
    BACKLOG_BATCHES.set(backlog.batches)
    BACKLOG_HITS.set(backlog.hits)
    oldest = backlog.oldest_published_at
    INGESTION_LAG.set(0.0 if oldest is None else max(0.0, now - oldest))


def counted(name: str) -> float:
    """The value of the sample ``name`` (``hitcount_indexer_hits_indexed_total``...), 0 before anything counted."""
    return REGISTRY.get_sample_value(name) or 0.0


def serve(host: str, port: int) -> WSGIServer:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; ``shutdown()`` the result to stop."""
    server, _thread = start_http_server(port, host, registry=REGISTRY)
    return server
