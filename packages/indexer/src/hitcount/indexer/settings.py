"""The indexer's settings, and :class:`Options`, the values one indexer runs with."""

from __future__ import annotations

from dataclasses import dataclass

from hitcount.core import Config, Setting
from hitcount.core.config import parse_duration, parse_positive_int
from hitcount.core.settings import RETENTION


def parse_bind(text: str) -> tuple[str, int] | None:
    """``host:port`` as a pair, or None for an empty value (metrics off)."""
    if not text.strip():
        return None
    host, separator, port = text.strip().rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected host:port, e.g. 127.0.0.1:9108, or nothing to serve no metrics")
    return host.strip("[]"), int(port)


MAX_BATCHES = Setting(
    "HITCOUNT_INDEXER_MAX_BATCHES",
    "100",
    "Most queue batches taken at once; their hits go to the store in one bulk write.",
    parse_positive_int,
)
CONSUME_WAIT = Setting(
    "HITCOUNT_INDEXER_CONSUME_WAIT",
    "1s",
    "How long one consume call waits for a batch; also how soon a stop signal is noticed when idle.",
    parse_duration,
)
RETRY_BASE = Setting(
    "HITCOUNT_INDEXER_RETRY_BASE",
    "100ms",
    "First delay before retrying an unavailable store or queue; doubles on each failure.",
    parse_duration,
)
RETRY_CAP = Setting(
    "HITCOUNT_INDEXER_RETRY_CAP",
    "30s",
    "Longest delay between two retries of an unavailable store or queue.",
    parse_duration,
)
PURGE_INTERVAL = Setting(
    "HITCOUNT_INDEXER_PURGE_INTERVAL",
    "1h",
    "How often the indexer deletes hits older than HITCOUNT_RETENTION (also once at start).",
    parse_duration,
)
BACKLOG_INTERVAL = Setting(
    "HITCOUNT_INDEXER_BACKLOG_INTERVAL",
    "15s",
    "How often the queue backlog and ingestion lag gauges are refreshed.",
    parse_duration,
)
METRICS_BIND = Setting(
    "HITCOUNT_INDEXER_METRICS_BIND",
    "",
    "host:port of the indexer's Prometheus /metrics endpoint; empty serves none.",
    parse_bind,
)
SETTINGS = (MAX_BATCHES, CONSUME_WAIT, RETRY_BASE, RETRY_CAP, PURGE_INTERVAL, BACKLOG_INTERVAL, METRICS_BIND)


@dataclass(frozen=True)
class Options:
    """How an :class:`~hitcount.indexer.indexer.Indexer` consumes, retries and keeps house (durations in s)."""

    max_batches: int
    consume_wait: float
    retry_base: float
    retry_cap: float
    retention: float
    purge_interval: float
    backlog_interval: float

    @classmethod
    def from_config(cls, config: Config) -> Options:
        """The options the ``HITCOUNT_INDEXER_*`` settings and ``HITCOUNT_RETENTION`` give."""
        return cls(
            max_batches=config.get(MAX_BATCHES),
            consume_wait=config.get(CONSUME_WAIT),
            retry_base=config.get(RETRY_BASE),
            retry_cap=config.get(RETRY_CAP),
            retention=config.get(RETENTION),
            purge_interval=config.get(PURGE_INTERVAL),
            backlog_interval=config.get(BACKLOG_INTERVAL),
        )
