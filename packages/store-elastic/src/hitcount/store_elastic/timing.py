"""How long one store write may take, and the rule that keeps it within the queue's visibility timeout.

The indexer holds a batch, unacknowledged, while the store writes its hits: a write that
outlasts ``HITCOUNT_QUEUE_VISIBILITY_TIMEOUT`` hands the batch to another indexer while it
may still be under way. Nothing here imports the Elasticsearch client, so the rule is
registered at no cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hitcount.core.config import Rule, format_duration
from hitcount.core.queue import VISIBILITY_TIMEOUT
from hitcount.core.settings import STORE
from hitcount.store_elastic.settings import TIMEOUT

# Pauses before re-sending the items a busy cluster refused (429/5xx): about 2 s in
# all, after which the indexer's own retry of the whole batch takes over.
RETRY_DELAYS = (0.1, 0.3, 0.6, 1.0)
# Bulk requests of one write: the first, then one after each pause.
ATTEMPTS = len(RETRY_DELAYS) + 1


def longest_write(timeout: float) -> float:
    """Seconds a write may take with a request timeout of ``timeout``: each bulk request is answered
    within half of it (its items wait that long for their shards), plus the pauses between them."""
    return ATTEMPTS * timeout / 2 + sum(RETRY_DELAYS)


def _write_within_visibility(values: Mapping[str, Any]) -> str | None:
    timeout: float = values[TIMEOUT.name]
    visibility: float = values[VISIBILITY_TIMEOUT.name]
    if values[STORE.name] != "elastic" or longest_write(timeout) < visibility:
        return None
    return (
        f"{VISIBILITY_TIMEOUT.name}={format_duration(visibility)} must exceed the longest store write,"
        f" {format_duration(longest_write(timeout))} with {TIMEOUT.name}={format_duration(timeout)}"
        f" ({ATTEMPTS} bulk requests of half of it, and {format_duration(sum(RETRY_DELAYS))} of pauses"
        f" between them): a batch would be delivered to another indexer while its write may still be under way"
    )


WRITE_WITHIN_VISIBILITY = Rule(
    f"With {STORE.name}=elastic, {VISIBILITY_TIMEOUT.name} exceeds the longest store write: {ATTEMPTS} bulk"
    f" requests of half of {TIMEOUT.name} and {format_duration(sum(RETRY_DELAYS))} of pauses"
    f" ({format_duration(longest_write(10.0))} with a 10 s timeout).",
    (STORE.name, TIMEOUT.name, VISIBILITY_TIMEOUT.name),
    _write_within_visibility,
)
RULES = (WRITE_WITHIN_VISIBILITY,)
