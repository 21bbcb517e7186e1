"""The indexer's settings, and :class:`IndexerSettings`, the values one indexer runs with."""

from __future__ import annotations

from dataclasses import dataclass

from hitcount.core import Config, ConfigError, Setting
from hitcount.core.config import parse_duration, parse_optional_address, parse_positive_int
from hitcount.core.queue import VISIBILITY_TIMEOUT
from hitcount.core.settings import RETENTION

MAX_BATCHES = Setting(
    "HITCOUNT_INDEXER_MAX_BATCHES",
    "100",
    "Most queue batches one consume call takes; a store write gathers the batches of several calls.",
    parse_positive_int,
)
BULK_HITS = Setting(
    "HITCOUNT_INDEXER_BULK_HITS",
    "10000",
    "Hits after which the indexer stops gathering queued batches and writes them to the store in one bulk"
    " (batches are never split, so a write may hold a little more).",
    parse_positive_int,
)
LINGER = Setting(
    "HITCOUNT_INDEXER_LINGER",
    "1s",
    "Longest the indexer gathers queued batches for one store write that has fewer than"
    " HITCOUNT_INDEXER_BULK_HITS hits; stores charge per write, so fuller writes cost far less per hit.",
    parse_duration,
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
MAX_ATTEMPTS = Setting(
    "HITCOUNT_INDEXER_MAX_ATTEMPTS",
    "10",
    "Deliveries of a batch that fail (its indexer crashed, stalled, or the store write raised an unexpected error)"
    " before the batch is dead-lettered; an unavailable store is waited out and never counts.",
    parse_positive_int,
)
METRICS_BIND = Setting(
    "HITCOUNT_INDEXER_METRICS_BIND",
    "",
    "host:port of the indexer's Prometheus /metrics endpoint; empty serves none.",
    parse_optional_address,
)
SETTINGS = (
    MAX_BATCHES,
    BULK_HITS,
    LINGER,
    CONSUME_WAIT,
    RETRY_BASE,
    RETRY_CAP,
    PURGE_INTERVAL,
    BACKLOG_INTERVAL,
    MAX_ATTEMPTS,
    METRICS_BIND,
)


@dataclass(frozen=True)
class IndexerSettings:
    """How an :class:`~hitcount.indexer.indexer.Indexer` consumes, retries and keeps house (durations in s)."""

    max_batches: int
    bulk_hits: int
    linger: float
    consume_wait: float
    retry_base: float
    retry_cap: float
    retention: float
    purge_interval: float
    backlog_interval: float
    max_attempts: int

    @classmethod
    def from_config(cls, config: Config) -> IndexerSettings:
        """The values the ``HITCOUNT_INDEXER_*`` settings and ``HITCOUNT_RETENTION`` give."""
        linger, visibility = config.get(LINGER), config.get(VISIBILITY_TIMEOUT)
        if linger * 2 > visibility:
            # Batches gathered longer would be handed to another consumer while still in hand.
            raise ConfigError(
                f"{LINGER.name}={linger:g}s must be at most half of {VISIBILITY_TIMEOUT.name}={visibility:g}s"
            )
        return cls(
            max_batches=config.get(MAX_BATCHES),
            bulk_hits=config.get(BULK_HITS),
            linger=linger,
            consume_wait=config.get(CONSUME_WAIT),
            retry_base=config.get(RETRY_BASE),
            retry_cap=config.get(RETRY_CAP),
            retention=config.get(RETENTION),
            purge_interval=config.get(PURGE_INTERVAL),
            backlog_interval=config.get(BACKLOG_INTERVAL),
            max_attempts=config.get(MAX_ATTEMPTS),
        )
