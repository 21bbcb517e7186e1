"""The counts of an id as one multi-search whose cost does not grow with the id's hits.

Counting every hit of a window (a ``filters`` aggregation over the id's hits, as this store
did before) reads each of them: a read of an id with ten million hits took most of a second.
Here each window, and the raw part of the total, is cut into spans of one daily index each:

- a whole day is a ``term`` count on its index, which Lucene answers from the term's
  document frequency without reading a document (the daily indices delete no document), and
  which Elasticsearch's shard request cache keeps until the index changes;
- a part of a day is counted either directly or as the day's ``term`` count less the rest of
  the day, whichever holds fewer hits: the rest is the time before the part (after it come
  only hits of clocks ahead), so today's share of a long window is the day's count less
  nothing but those; within a part, whole hours form one span the request
  cache may keep (its bounds change once an hour, not at every read), and only the minutes
  at its ends, where the window's own nanosecond bounds lie, are counted exactly each time.

Spans shared by windows are counted once. Ranges on ``date_nanos`` compare the stored longs,
so a hit exactly at ``now - length`` is outside a window and one nanosecond later inside.

Visitors are counted in the visitors index by one more search of the same request: a
visitor of the id is in a window when its latest hit is (:mod:`hitcount.store_elastic.bulk`
keeps that time in its document), because every window ends at ``now``; a hit later than
``now`` (a clock ahead of the reader's) leaves its visitor out until ``now`` catches up. (It
replaced a ``cardinality`` aggregation over the hits' keys: HyperLogLog++ estimates even below
its ``precision_threshold``, and hashing every hit's key made a read three times as slow;
BENCHMARKS.md, "Visitors".) The
total adds the buckets of the hours before the seal line, summed in the rollups index
(:mod:`hitcount.store_elastic.rollups`), to the spans of the hits since it. Every search
refuses partial results: a count that silently skipped a failed shard would be wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hitcount.core.errors import StoreError, StoreUnavailable
from hitcount.core.windows import LONGEST, NS_PER_DAY, NS_PER_HOUR, WINDOWS, Counts
from hitcount.store_elastic.layout import (
    COUNT_FIELD,
    ID_FIELD,
    MOST_NAMED_DAYS,
    TIMESTAMP_FIELD,
    TIMESTAMP_FORMAT,
    Layout,
    timestamp_text,
)
from hitcount.store_elastic.query import within

VISITORS = "visitors"
SEALED = "sealed"
# Every header: no shard is skipped (a count of some shards only is a wrong count, an error a 503), and an
# index not there (a day without hits, a prefix never sealed) counts nothing.
HEADER = {"allow_partial_search_results": False, "ignore_unavailable": True, "allow_no_indices": True}


@dataclass(frozen=True)
class Span:
    """The id's hits in [start, end) (ns; None: unbounded) of ``index``; ``kept`` when its bounds are whole
    hours, so that Elasticsearch's request cache may keep its count."""

    index: str
    start: int | None = None
    end: int | None = None
    kept: bool = True


def _hour_floor(timestamp: int) -> int:
    return timestamp // NS_PER_HOUR * NS_PER_HOUR


def _hour_ceiling(timestamp: int) -> int:
    return -(-timestamp // NS_PER_HOUR) * NS_PER_HOUR


def _range(index: str, start: int, end: int) -> list[Span]:
    """[start, end) within one day of ``index``: exact spans at its ends, whole hours between (none empty)."""
    inner_start, inner_end = _hour_ceiling(start), _hour_floor(end)
    if inner_start >= inner_end:
        return [Span(index, start, end, kept=False)] if start < end else []
    edges = [Span(index, start, inner_start, kept=False), Span(index, inner_end, end, kept=False)]
    return [Span(index, inner_start, inner_end), *(span for span in edges if span.start != span.end)]


def spans(layout: Layout, start: int, end: int) -> list[tuple[Span, int]]:
    """The id's hits in [start, end) as spans, each to be added (1) or taken away (-1)."""
    first, last = start // NS_PER_DAY, (end - 1) // NS_PER_DAY
    if last - first >= MOST_NAMED_DAYS:  # a seal line far behind: one search of every index
        return [(Span(layout.daily_pattern, start, end, kept=False), 1)]
    signed: list[tuple[Span, int]] = []
    for day in range(first, last + 1):
        index, day_start, day_end = layout.index(day), day * NS_PER_DAY, (day + 1) * NS_PER_DAY
        low, high = max(start, day_start), min(end, day_end)
        # What the day holds outside the span: the hits before it (after it only those of clocks ahead).
        if low - day_start < high - low:  # fewer: the day's count less the rest
            signed.append((Span(index), 1))
            signed += [(span, -1) for span in (*_range(index, day_start, low), *_range(index, high, day_end))]
        else:
            signed += [(span, 1) for span in _range(index, low, high)]
    return signed


def _count(id: str, span: Span) -> list[dict[str, Any]]:
    """The header and body of a search counting ``span``."""
    filters: list[dict[str, Any]] = [{"term": {ID_FIELD: id}}]
    if span.start is not None or span.end is not None:
        bounds: dict[str, Any] = {"format": TIMESTAMP_FORMAT}
        if span.start is not None:
            bounds["gte"] = timestamp_text(span.start)
        if span.end is not None:
            bounds["lt"] = timestamp_text(span.end)
        filters.append({"range": {TIMESTAMP_FIELD: bounds}})
    header = {"index": span.index, "request_cache": span.kept, **HEADER}
    return [header, {"size": 0, "track_total_hits": True, "query": {"bool": {"filter": filters}}}]


@dataclass(frozen=True)
class Plan:
    """The searches counting ``id`` at ``now``: each distinct span, then the visitors, then the buckets."""

    id: str
    now: int
    windows: list[list[tuple[Span, int]]]
    total: list[tuple[Span, int]]
    counted: list[Span]
    searches: list[dict[str, Any]]

    def counts(self, responses: Sequence[Mapping[str, Any]]) -> Counts:
        """The counts in the multi-search's ``responses`` (:class:`StoreUnavailable` or :class:`StoreError`
        when any search failed)."""
        for response in responses:
            if "error" in response:
                status = response.get("status", 500)
                message = f"a count of {self.id!r} failed: {status} {response['error']}"
                raise (StoreError if status == 400 else StoreUnavailable)(message)
        counted = responses[: len(self.counted)]
        by_span = {
            span: response["hits"]["total"]["value"] for span, response in zip(self.counted, counted, strict=True)
        }
        visitors, sealed = responses[len(self.counted) :]

        def summed(signed: list[tuple[Span, int]]) -> int:
            return sum(sign * by_span[span] for span, sign in signed)

        buckets = visitors.get("aggregations", {}).get(VISITORS, {}).get("buckets")
        return Counts(
            self.id,
            self.now,
            tuple(summed(window) for window in self.windows),
            tuple(bucket["doc_count"] for bucket in buckets) if buckets else (0,) * len(WINDOWS),
            summed(self.total) + round(sealed.get("aggregations", {}).get(SEALED, {}).get("value", 0)),
        )


def plan(layout: Layout, id: str, now: int, sealed: int) -> Plan:
    """The searches counting ``id`` in every window at ``now``, and its total with the hours before
    ``sealed`` from their buckets: one multi-search."""
    windows = [spans(layout, window.start(now) + 1, now + 1) for window in WINDOWS]
    total = spans(layout, sealed, now + 1)
    counted = list(dict.fromkeys(span for signed in (*windows, total) for span, _ in signed))
    searches = [part for span in counted for part in _count(id, span)]
    in_longest = within(LONGEST, now)
    searches += [
        {"index": layout.visitors_index, "request_cache": False, **HEADER},
        {
            "size": 0,
            "track_total_hits": False,
            "query": {"bool": {"filter": [{"term": {ID_FIELD: id}}, in_longest]}},
            "aggregations": {VISITORS: {"filters": {"filters": [within(window, now) for window in WINDOWS]}}},
        },
        {"index": layout.rollups_index, **HEADER},
        {
            "size": 0,
            "track_total_hits": False,
            "query": {
                "bool": {
                    "filter": [
                        {"term": {ID_FIELD: id}},
                        {"range": {TIMESTAMP_FIELD: {"lt": timestamp_text(sealed), "format": TIMESTAMP_FORMAT}}},
                    ]
                }
            },
            "aggregations": {SEALED: {"sum": {"field": COUNT_FIELD}}},
        },
    ]
    return Plan(id, now, windows, total, counted, searches)
