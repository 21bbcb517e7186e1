"""The one search that answers every window of an id, and how its answer becomes :class:`Counts`.

The query keeps the hits of the id inside the longest window; a ``filters``
aggregation then counts each window with its own exact range. A ``range``
aggregation would be one line shorter but compares doubles, which cannot hold
nanoseconds since 1970 exactly; range *queries* on ``date_nanos`` compare the stored
longs, so a hit exactly at ``now - length`` is outside and one nanosecond later inside.

Each window's bucket also counts its distinct visitor keys with a ``cardinality``
sub-aggregation (HyperLogLog++), the only distinct count a search has besides a bucket
per value: an exact count (a ``terms`` bucket per visitor) would cost memory and time in
proportion to the visitors and stop at ``search.max_buckets``. Its answers are
estimates, even below ``precision_threshold``:

- up to 49,152 distinct keys a window (``precision_threshold: 40000``, the maximum,
  makes room for that many) it keeps a set of (mostly) 25-bit fragments of each key's
  64-bit hash and answers the linear-counting estimate of the set's size. Two of n keys
  share a fragment about n²/2²⁶ times (1.5 at 10,000, 24 at 40,000), and the estimate
  adds that expectation back, so what is left is the chance part, about n/8192 either
  way (one standard deviation). Measured on 40 sets of random keys: 1,000 visitors exact
  every time, 5,000 within 2, 10,000 within 4, 40,000 within 14 (0.035 %), rarely exact;
- beyond, HyperLogLog with 2¹⁸ registers: a relative standard error of about 0.2 %
  (within 0.5 % measured, up to 1,000,000 visitors).

The sketches are what a count of visitors costs: on an id with a million hits in three
days the search takes about three times as long as without them. The default threshold
(3,000: 2¹⁴ registers) would take 1.8 times as long, for a 0.8 % standard error above
3,072 visitors a window; an execution hint changes nothing on a numeric field.
BENCHMARKS.md ("Visitors") gives the errors and the cost measured on this store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hitcount.core.windows import LONGEST, WINDOWS, Counts, Window
from hitcount.store_elastic.layout import ID_FIELD, TIMESTAMP_FIELD, TIMESTAMP_FORMAT, VISITOR_FIELD, timestamp_text

AGGREGATION = "windows"
VISITORS = "visitors"
# The most Elasticsearch accepts: linear counting (near-exact, see above) up to about 49,000 keys a window.
PRECISION_THRESHOLD = 40_000
# Only what counts_from reads.
RESPONSE_FILTER = f"aggregations.{AGGREGATION}.buckets.doc_count,aggregations.{AGGREGATION}.buckets.{VISITORS}.value"


def _within(window: Window, now: int) -> dict[str, Any]:
    """Hits in (now - length, now]."""
    bounds = {"gt": timestamp_text(window.start(now)), "lte": timestamp_text(now), "format": TIMESTAMP_FORMAT}
    return {"range": {TIMESTAMP_FIELD: bounds}}


def search_arguments(id: str, now: int) -> dict[str, Any]:
    """Keyword arguments of ``Elasticsearch.search`` counting ``id`` in every window at ``now``.

    ``size: 0`` and no total: only the aggregation is wanted. The shard request cache
    is bypassed because every request carries its own ``now`` and would only evict
    useful entries. Partial results are refused: a count that silently skipped a
    failed shard would be wrong, while an error lets the caller answer 503.
    """
    return {
        "size": 0,
        "track_total_hits": False,
        "request_cache": False,
        "allow_partial_search_results": False,
        "query": {"bool": {"filter": [{"term": {ID_FIELD: id}}, _within(LONGEST, now)]}},
        "aggregations": {
            AGGREGATION: {
                "filters": {"filters": [_within(window, now) for window in WINDOWS]},
                "aggregations": {
                    VISITORS: {"cardinality": {"field": VISITOR_FIELD, "precision_threshold": PRECISION_THRESHOLD}}
                },
            }
        },
        "filter_path": RESPONSE_FILTER,
    }


def counts_from(response: Mapping[str, Any], id: str, now: int) -> Counts:
    """The counts in a response to :func:`search_arguments`.

    With no daily index to search (nothing written yet, or all purged) Elasticsearch
    answers without aggregations, and every count is zero.
    """
    aggregation = response.get("aggregations", {}).get(AGGREGATION)
    if aggregation is None:
        return Counts(id, now, (0,) * len(WINDOWS), (0,) * len(WINDOWS))
    buckets = aggregation["buckets"]
    return Counts(
        id,
        now,
        tuple(bucket["doc_count"] for bucket in buckets),
        tuple(bucket[VISITORS]["value"] for bucket in buckets),
    )
