"""The indexer's settings, the constants it runs with otherwise, and :class:`IndexerSettings`, the values
one indexer runs with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hitcount.core import Config, Setting
from hitcount.core.config import Rule, format_duration, parse_optional_address, parse_positive_int
from hitcount.core.queue import VISIBILITY_TIMEOUT
from hitcount.core.settings import RETENTION

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
SETTINGS = (MAX_ATTEMPTS, METRICS_BIND)

# Most queue batches one consume call takes; a store write gathers the batches of several calls.
MAX_BATCHES = 100
# Hits after which the indexer stops gathering queued batches and writes them to the store in one
# bulk (batches are never split, so a write may hold a little more).
BULK_HITS = 10_000
# Longest (s) the indexer gathers queued batches for one store write that has fewer than BULK_HITS
# hits: stores charge per write, so fuller writes cost far less per hit.
LINGER = 1.0
# How long (s) one consume call waits for a batch; also how soon a stop signal is noticed when idle.
CONSUME_WAIT = 1.0
# First delay (s) before retrying an unavailable store or queue, doubled on each failure up to RETRY_CAP.
RETRY_BASE = 0.1
RETRY_CAP = 30.0
# How often (s) the indexer deletes hits older than HITCOUNT_RETENTION (also once at start).
PURGE_INTERVAL = 3600.0
# How often (s) the queue backlog and ingestion lag gauges are refreshed.
BACKLOG_INTERVAL = 15.0


def _linger_within_visibility(values: Mapping[str, Any]) -> str | None:
    visibility: float = values[VISIBILITY_TIMEOUT.name]
    if visibility >= LINGER * 2:
        return None
    return (
        f"{VISIBILITY_TIMEOUT.name}={format_duration(visibility)} must be at least twice the indexer's linger"
        f" (hitcount.indexer.settings.LINGER = {format_duration(LINGER)}): batches gathered for a store write"
        " would be delivered to another indexer while still in hand"
    )


LINGER_WITHIN_VISIBILITY = Rule(
    f"{VISIBILITY_TIMEOUT.name} is at least twice the indexer's linger ({format_duration(LINGER)}), so that"
    " batches gathered for one store write are not delivered to another indexer meanwhile.",
    (VISIBILITY_TIMEOUT.name,),
    _linger_within_visibility,
)
RULES = (LINGER_WITHIN_VISIBILITY,)


@dataclass(frozen=True)
class IndexerSettings:
    """How an :class:`~hitcount.indexer.indexer.Indexer` consumes, retries and keeps house (durations in s).

    Only ``retention`` and ``max_attempts`` are an operator's to set; the rest are the module's
    constants, which tests pass smaller to see a linger, a backoff or a purge within a second.
    """

    retention: float
    max_attempts: int
    max_batches: int = MAX_BATCHES
    bulk_hits: int = BULK_HITS
    linger: float = LINGER
    consume_wait: float = CONSUME_WAIT
    retry_base: float = RETRY_BASE
    retry_cap: float = RETRY_CAP
    purge_interval: float = PURGE_INTERVAL
    backlog_interval: float = BACKLOG_INTERVAL

    @classmethod
    def from_config(cls, config: Config) -> IndexerSettings:
        """The values ``HITCOUNT_RETENTION`` and ``HITCOUNT_INDEXER_MAX_ATTEMPTS`` give, once the linger is
        known to fit within ``HITCOUNT_QUEUE_VISIBILITY_TIMEOUT``."""
        config.require(RULES, [VISIBILITY_TIMEOUT])
        return cls(retention=config.get(RETENTION), max_attempts=config.get(MAX_ATTEMPTS))
