"""The indexer's Prometheus metrics, in a registry of their own, served when configured."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from hitcount.core import Backlog


class Metrics:
    """What an operator watches: throughput, retries, dead letters, and how far behind indexing is."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.hits_indexed = Counter(
            "hitcount_indexer_hits_indexed", "Hits written to the store and acknowledged.", registry=self.registry
        )
        self.batches = Counter(
            "hitcount_indexer_batches", "Queue batches written to the store and acknowledged.", registry=self.registry
        )
        self.store_retries = Counter(
            "hitcount_indexer_store_retries", "Store writes retried after a failure.", registry=self.registry
        )
        self.dead_letters = Counter(
            "hitcount_indexer_dead_letters", "Batches set aside as undecodable or refused.", registry=self.registry
        )
        self._losses_counted = 0
        self.queue_data_losses = Counter(
            "hitcount_indexer_queue_data_losses",
            "Times the queue found that its backend had lost batches it held (a Redis restarted without its data).",
            registry=self.registry,
        )
        self.backlog_batches = Gauge(
            "hitcount_indexer_backlog_batches", "Batches in the queue not yet acknowledged.", registry=self.registry
        )
        self.backlog_hits = Gauge(
            "hitcount_indexer_backlog_hits", "Hits in the queue not yet acknowledged.", registry=self.registry
        )
        self.ingestion_lag = Gauge(
            "hitcount_indexer_ingestion_lag_seconds",
            "Age of the oldest hit batch not yet indexed; 0 when the queue is empty.",
            registry=self.registry,
        )

    def observe_data_losses(self, losses: int) -> None:
        """Count the losses the queue found since the last call (its :meth:`Queue.data_losses` is ``losses``)."""
        if losses > self._losses_counted:
            self.queue_data_losses.inc(losses - self._losses_counted)
            self._losses_counted = losses

    def observe_backlog(self, backlog: Backlog, now: float) -> None:
        """Set the backlog gauges from one :meth:`Queue.backlog` answer taken at ``now`` (epoch s)."""
        self.backlog_batches.set(backlog.batches)
        self.backlog_hits.set(backlog.hits)
        oldest = backlog.oldest_published_at
        self.ingestion_lag.set(0.0 if oldest is None else max(0.0, now - oldest))

    def serve(self, host: str, port: int) -> WSGIServer:
        """Serve ``/metrics`` on ``host:port`` from a daemon thread; ``shutdown()`` the result to stop."""
        server, _thread = start_http_server(port, host, registry=self.registry)
        return server
