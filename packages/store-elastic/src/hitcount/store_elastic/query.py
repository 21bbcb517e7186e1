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

The total is in the same search too: the buckets before the seal line, which only the rollups
index holds, and the raw hits since it, added up by one ``sum`` (a bucket's count, 1 for a hit:
:mod:`hitcount.store_elastic.rollups`). Each part is a filter on ``_index`` or on time, so
neither is counted in the other, nor a bucket in a window.

It replaced a ``cardinality`` sub-aggregation over the hits' keys: HyperLogLog++ estimates
even below its ``precision_threshold`` (off by up to 14 at 40,000 distinct keys), and
hashing every hit's key into its sketch made a read of a million hits about three times as
slow. BENCHMARKS.md ("Visitors") gives both costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hitcount.core.hours import HOURS as HOURS_CHARTED
from hitcount.core.hours import Hours, first_hour
from hitcount.core.windows import LONGEST, NS_PER_HOUR, WINDOWS, Counts, Window
from hitcount.store_elastic.layout import (
    COUNT_FIELD,
    ID_FIELD,
    TIMESTAMP_FIELD,
    TIMESTAMP_FORMAT,
    Layout,
    timestamp_text,
)

NS_PER_MILLISECOND = 1_000_000
MILLISECONDS_PER_HOUR = NS_PER_HOUR // NS_PER_MILLISECOND
AGGREGATION = "windows"
VISITORS = "visitors"
TOTAL = "total"
# Only what counts_from reads.
RESPONSE_FILTER = ",".join(
    (
        f"aggregations.{AGGREGATION}.buckets.doc_count",
        f"aggregations.{AGGREGATION}.buckets.{VISITORS}.doc_count",
        f"aggregations.{TOTAL}.{TOTAL}.value",
    )
)
# A total's sum over what it counts: a bucket's count, or 1 for a hit (whose indices do not map the field).
SUM_OF_TOTAL = {"sum": {"field": COUNT_FIELD, "missing": 1}}


def within(window: Window, now: int) -> dict[str, Any]:
    """Hits in (now - length, now]."""
    bounds = {"gt": timestamp_text(window.start(now)), "lte": timestamp_text(now), "format": TIMESTAMP_FORMAT}
    return {"range": {TIMESTAMP_FIELD: bounds}}


def in_index(index: str) -> dict[str, Any]:
    """The documents of ``index``: a filter Elasticsearch rewrites per shard to all of them or none."""
    return {"term": {"_index": index}}


def counted_in_total(layout: Layout, now: int, sealed: int) -> dict[str, Any]:
    """What a total counts: the buckets of the hours before ``sealed``, and the hits from ``sealed`` to
    ``now`` (not the visitors' documents), each summed by :data:`SUM_OF_TOTAL`."""
    rollups, visitors = in_index(layout.rollups_index), in_index(layout.visitors_index)
    before = {"lt": timestamp_text(sealed), "format": TIMESTAMP_FORMAT}
    since = {"gte": timestamp_text(sealed), "lte": timestamp_text(now), "format": TIMESTAMP_FORMAT}
    return {
        "bool": {
            "should": [
                {"bool": {"filter": [rollups, {"range": {TIMESTAMP_FIELD: before}}]}},
                {"bool": {"filter": [{"range": {TIMESTAMP_FIELD: since}}], "must_not": [rollups, visitors]}},
            ],
            "minimum_should_match": 1,
        }
    }


def indices(layout: Layout, now: int, sealed: int) -> list[str]:
    """The indices the search of :func:`search_arguments` reads: the daily indices since the earlier of
    ``sealed`` and the longest window's start, the visitors index and the rollups index."""
    start = min(sealed, LONGEST.start(now))
    return [*layout.indices_since(start, now), layout.visitors_index, layout.rollups_index]


def search_arguments(id: str, now: int, layout: Layout, sealed: int) -> dict[str, Any]:
    """Keyword arguments of ``Elasticsearch.search`` counting ``id`` in every window at ``now``, and its
    total with the hours before ``sealed`` taken from their buckets, over :func:`indices`.

    ``size: 0`` and no total: only the aggregation is wanted. The shard request cache
    is bypassed because every request carries its own ``now`` and would only evict
    useful entries. Partial results are refused: a count that silently skipped a
    failed shard would be wrong, while an error lets the caller answer 503.
    """
    rollups = in_index(layout.rollups_index)
    # A window's hits and visitors' documents, never a bucket.
    windows = [{"bool": {"filter": [within(window, now)], "must_not": [rollups]}} for window in WINDOWS]
    total = counted_in_total(layout, now, sealed)
    return {
        "size": 0,
        "track_total_hits": False,
        "request_cache": False,
        "allow_partial_search_results": False,
        "query": {
            "bool": {
                "filter": [{"term": {ID_FIELD: id}}],
                "should": [windows[0], total],
                "minimum_should_match": 1,
            }
        },
        "aggregations": {
            AGGREGATION: {
                "filters": {"filters": windows},
                "aggregations": {VISITORS: {"filter": in_index(layout.visitors_index)}},
            },
            TOTAL: {"filter": total, "aggregations": {TOTAL: SUM_OF_TOTAL}},
        },
        "filter_path": RESPONSE_FILTER,
    }


def counts_from(response: Mapping[str, Any], id: str, now: int) -> Counts:
    """The counts in a response to :func:`search_arguments`.

    With no daily index to search (nothing written yet, or all purged) Elasticsearch
    answers without aggregations, and every count is zero.
    """
    aggregations = response.get("aggregations")
    if aggregations is None:
        return Counts(id, now, (0,) * len(WINDOWS), (0,) * len(WINDOWS), 0)
    buckets = aggregations[AGGREGATION]["buckets"]
    visitors = tuple(bucket[VISITORS]["doc_count"] for bucket in buckets)
    return Counts(
        id,
        now,
        tuple(bucket["doc_count"] - visitors for bucket, visitors in zip(buckets, visitors, strict=True)),
        visitors,
        round(aggregations[TOTAL][TOTAL]["value"]),
    )


HOURS = "hours"


def hours_arguments(id: str, now: int) -> dict[str, Any]:
    """Keyword arguments of ``Elasticsearch.search`` counting the hits of ``id`` by UTC hour over
    :func:`hitcount.core.hours.first_hour` to ``now``, read from the daily indices of those days."""
    bounds = {"gte": timestamp_text(first_hour(now)), "lte": timestamp_text(now), "format": TIMESTAMP_FORMAT}
    return {
        "size": 0,
        "track_total_hits": False,
        "request_cache": False,
        "allow_partial_search_results": False,
        "query": {"bool": {"filter": [{"term": {ID_FIELD: id}}, {"range": {TIMESTAMP_FIELD: bounds}}]}},
        "aggregations": {HOURS: {"date_histogram": {"field": TIMESTAMP_FIELD, "fixed_interval": "1h"}}},
        "filter_path": f"aggregations.{HOURS}.buckets.key,aggregations.{HOURS}.buckets.doc_count",
    }


def hours_from(response: Mapping[str, Any], id: str, now: int) -> Hours:
    """The hours in a response to :func:`hours_arguments` (bucket keys are milliseconds since 1970)."""
    first = first_hour(now) // NS_PER_MILLISECOND
    counts = [0] * HOURS_CHARTED
    for bucket in response.get("aggregations", {}).get(HOURS, {}).get("buckets", []):
        counts[(bucket["key"] - first) // MILLISECONDS_PER_HOUR] = bucket["doc_count"]
    return Hours(id, now, tuple(counts))
