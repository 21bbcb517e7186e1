"""The filters a store's searches share (a window, an index, what a total counts), and the search of an
id's hits per hour.

A window is a ``range`` *query* on ``date_nanos``, which compares the stored longs: a hit
exactly at ``now - length`` is outside and one nanosecond later inside. A ``range``
aggregation would compare doubles, which cannot hold nanoseconds since 1970 exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hitcount.core.hours import HOURS as HOURS_CHARTED
from hitcount.core.hours import Hours, first_hour
from hitcount.core.windows import NS_PER_HOUR, Window
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
# A total's sum over what it counts: a bucket's count, or 1 for a hit (whose indices do not map the field).
SUM_OF_TOTAL = {"sum": {"field": COUNT_FIELD, "missing": 1}}


def aggregating(filters: list[dict[str, Any]], aggregations: dict[str, Any]) -> dict[str, Any]:
    """Search arguments of ``aggregations`` alone over the documents ``filters`` keep: no hits and no total,
    no request cache (each search carries bounds of its own), and no partial results (an aggregation that
    silently skipped a failed shard would be wrong, while an error lets the caller answer 503)."""
    return {
        "size": 0,
        "track_total_hits": False,
        "request_cache": False,
        "allow_partial_search_results": False,
        "query": {"bool": {"filter": filters}},
        "aggregations": aggregations,
    }


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


HOURS = "hours"


def hours_arguments(id: str, now: int) -> dict[str, Any]:
    """Keyword arguments of ``Elasticsearch.search`` counting the hits of ``id`` by UTC hour over
    :func:`hitcount.core.hours.first_hour` to ``now``, read from the daily indices of those days."""
    bounds = {"gte": timestamp_text(first_hour(now)), "lte": timestamp_text(now), "format": TIMESTAMP_FORMAT}
    return {
        **aggregating(
            [{"term": {ID_FIELD: id}}, {"range": {TIMESTAMP_FIELD: bounds}}],
            {HOURS: {"date_histogram": {"field": TIMESTAMP_FIELD, "fixed_interval": "1h"}}},
        ),
        "filter_path": f"aggregations.{HOURS}.buckets.key,aggregations.{HOURS}.buckets.doc_count",
    }


def hours_from(response: Mapping[str, Any], id: str, now: int) -> Hours:
    """The hours in a response to :func:`hours_arguments` (bucket keys are milliseconds since 1970)."""
    first = first_hour(now) // NS_PER_MILLISECOND
    counts = [0] * HOURS_CHARTED
    for bucket in response.get("aggregations", {}).get(HOURS, {}).get("buckets", []):
        counts[(bucket["key"] - first) // MILLISECONDS_PER_HOUR] = bucket["doc_count"]
    return Hours(id, now, tuple(counts))
