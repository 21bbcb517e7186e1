"""The one search that answers every window of an id, and how its answer becomes :class:`Counts`.

The query keeps the hits of the id inside the longest window; a ``filters``
aggregation then counts each window with its own exact range. A ``range``
aggregation would be one line shorter but compares doubles, which cannot hold
nanoseconds since 1970 exactly; range *queries* on ``date_nanos`` compare the stored
longs, so a hit exactly at ``now - length`` is outside and one nanosecond later inside.

The same search counts visitors, exactly, in the visitors index: a visitor of the id is in
a window when its latest hit is (:mod:`hitcount.store_elastic.bulk` keeps that time in its
document), because every window ends at ``now``. The query takes each window's visitor
documents with its hits; a sub-aggregation on ``_index`` (rewritten per shard to all or
none of its documents, so it costs nothing a document) tells them apart. A hit later than
``now`` (a clock ahead of the reader's) leaves its visitor out of windows ending before it.

It replaced a ``cardinality`` sub-aggregation over the hits' keys: HyperLogLog++ estimates
even below its ``precision_threshold`` (off by up to 14 at 40,000 distinct keys), and
hashing every hit's key into its sketch made a read of a million hits about three times as
slow. BENCHMARKS.md ("Visitors") gives both costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hitcount.core.windows import LONGEST, WINDOWS, Counts, Window
from hitcount.store_elastic.layout import ID_FIELD, TIMESTAMP_FIELD, TIMESTAMP_FORMAT, timestamp_text

AGGREGATION = "windows"
VISITORS = "visitors"
# Only what counts_from reads.
RESPONSE_FILTER = (
    f"aggregations.{AGGREGATION}.buckets.doc_count,aggregations.{AGGREGATION}.buckets.{VISITORS}.doc_count"
)


def _within(window: Window, now: int) -> dict[str, Any]:
    """Hits in (now - length, now]."""
    bounds = {"gt": timestamp_text(window.start(now)), "lte": timestamp_text(now), "format": TIMESTAMP_FORMAT}
    return {"range": {TIMESTAMP_FIELD: bounds}}


def search_arguments(id: str, now: int, visitors_index: str) -> dict[str, Any]:
    """Keyword arguments of ``Elasticsearch.search`` counting ``id`` in every window at ``now``, over the
    daily indices and ``visitors_index``.

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
                "aggregations": {VISITORS: {"filter": {"term": {"_index": visitors_index}}}},
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
    visitors = tuple(bucket[VISITORS]["doc_count"] for bucket in buckets)
    return Counts(
        id,
        now,
        tuple(bucket["doc_count"] - visitors for bucket, visitors in zip(buckets, visitors, strict=True)),
        visitors,
    )
