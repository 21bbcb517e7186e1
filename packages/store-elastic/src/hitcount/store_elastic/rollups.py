"""Hourly rollups in Elasticsearch: exact buckets that no race between sealers, writers and readers can spoil.

:mod:`hitcount.core.rollups` says what a rollup is. Here they live in ``<prefix>-rollups``:

- a **bucket** per id, UTC hour and *generation* of that hour's daily index (the index's
  uuid): ``{"id", "@timestamp": the hour's start, "count"}``. Its count is always a whole
  recount of that id and hour in that index, taken after a refresh, and written as the
  document's *external version* with ``external_gte``, so a smaller (older) count never
  replaces a larger one: the hits of an hour in one index only ever grow, and of two
  counts the larger is the later. Any number of sealers and writers may count the same
  hour in any order, crash midway or count again, and the bucket ends at the count of
  every hit stored. Retention deletes a whole daily index; a hit that still arrives for
  its day makes a new index, a new generation, with buckets of its own beside the old.
- the **line** document (``_id: line``): ``sealing``, the hours a sealer has started on;
  ``sealed``, the hours whose buckets are all written, which readers use; ``epoch``, raised
  by each rebuild and carried in the top bits of every bucket's version, so a rebuild's
  counts replace the buckets whatever they held, smaller or not.

A sealer writes ``sealing`` first, then refreshes and counts. A writer reads the line
(a real-time get) after every bulk write it made, and recounts the hours before
``sealing`` it wrote hits for. So each hit is either written before the sealer's
refresh, and counted by it, or its writer sees the line and counts it: never neither.
Readers add the buckets before ``sealed`` and the raw hits since (:mod:`.query`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from json.encoder import encode_basestring_ascii
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from hitcount.core.errors import StoreError, StoreUnavailable
from hitcount.core.hit import Hit
from hitcount.core.windows import NS_PER_DAY, NS_PER_HOUR
from hitcount.store_elastic import bulk
from hitcount.store_elastic.layout import COUNT_FIELD, ID_FIELD, TIMESTAMP_FIELD, Layout, timestamp_text
from hitcount.store_elastic.query import NS_PER_MILLISECOND, aggregating

log = logging.getLogger(__name__)

LINE_ID = "line"
# A bucket's version is its rebuild epoch above these bits and its count below: counts up to 2**40.
EPOCH_SHIFT = 40
# Buckets read by one page of a composite aggregation, and written by one bulk request.
PAGE = 10_000

Errors = Callable[[str], AbstractContextManager[None]]
Bulk = Callable[[list[str]], list[Mapping[str, Any]]]


@dataclass(frozen=True)
class Line:
    """The line document: what is sealed, what a sealer started, the rebuild epoch; and its sequence
    number and primary term, which an update must match (None while it does not exist)."""

    sealed: int = 0
    sealing: int = 0
    epoch: int = 0
    seq_no: int | None = None
    primary_term: int | None = None

    def fields(self) -> dict[str, int]:
        return {"sealed": self.sealed, "sealing": self.sealing, "epoch": self.epoch}


def bucket_entries(index: str, generation: str, epoch: int, buckets: Iterable[tuple[str, int, int]]) -> list[str]:
    """Bulk actions writing ``(id, hour, count)`` buckets of one generation: larger counts (or a later
    epoch) win. The ``_id`` is :func:`bulk.document_id` of the id, the hour's 8 bytes and the generation."""
    return [
        f'{{"index":{{"_index":"{index}","_id":"{bulk.document_id(id, _key(hour, generation))}",'
        f'"version":{epoch << EPOCH_SHIFT | count},"version_type":"external_gte"}}}}\n'
        f'{{"{ID_FIELD}":{encode_basestring_ascii(id)},"{TIMESTAMP_FIELD}":"{timestamp_text(hour)}","{COUNT_FIELD}":{count}}}\n'
        for id, hour, count in buckets
    ]


def _key(hour: int, generation: str) -> bytes:
    """A bucket's fixed-length key besides its id: its hour and the uuid of its daily index."""
    return hour.to_bytes(8, "big", signed=True) + generation.encode("ascii")


def hour_counts(start: int, end: int, ids: Sequence[str] = ()) -> dict[str, Any]:
    """Search arguments counting the hits in [start, end) by id and hour (of ``ids`` alone if given), a
    page at a time: sources in the indices' sort order, so each page reads a run of documents."""
    bounds = {"gte": timestamp_text(start), "lt": timestamp_text(end)}
    filters: list[dict[str, Any]] = [{"range": {TIMESTAMP_FIELD: bounds}}]
    if ids:
        filters.append({"terms": {ID_FIELD: list(ids)}})
    return aggregating(
        filters,
        {
            "buckets": {
                "composite": {
                    "size": PAGE,
                    "sources": [
                        {ID_FIELD: {"terms": {"field": ID_FIELD}}},
                        {"hour": {"date_histogram": {"field": TIMESTAMP_FIELD, "fixed_interval": "1h"}}},
                    ],
                }
            }
        },
    )


class Rollups:
    """The buckets and line of one layout, on the store's client, error translation and bulk writer."""

    def __init__(self, client: Elasticsearch, layout: Layout, errors: Errors, write: Bulk) -> None:
        self._client = client
        self._layout = layout
        self._errors = errors
        self._bulk = write

    def line(self) -> Line:
        """The line as it is now (a real-time get): all zero before anything was sealed."""
        with self._errors("reading the seal line"):
            try:
                found = self._client.get(index=self._layout.rollups_index, id=LINE_ID)
            except NotFoundError:
                return Line()
        return Line(**found["_source"], seq_no=found["_seq_no"], primary_term=found["_primary_term"])

    def _update(self, change: Callable[[Line], Line]) -> Line:
        """Apply ``change`` to the line, again on a fresh read whenever another process changed it first."""
        while True:
            line = self.line()
            wanted = change(line)
            if wanted.fields() == line.fields():
                return line
            if line.seq_no is None:
                guard: dict[str, Any] = {"op_type": "create"}
            else:
                guard = {"if_seq_no": line.seq_no, "if_primary_term": line.primary_term}
            with self._errors("writing the seal line"):
                try:
                    self._client.index(index=self._layout.rollups_index, id=LINE_ID, document=wanted.fields(), **guard)
                except ConflictError:
                    continue
            return wanted

    def seal(self, before: int) -> int:
        """Write the buckets of every hour before ``before`` not sealed yet, then mark them sealed; return how
        many buckets were written."""
        line = self._update(lambda line: replace(line, sealing=max(line.sealing, before)))
        if before <= line.sealed:
            return 0
        written = self._count(line.sealed, before, line.epoch)
        self._refresh(self._layout.rollups_index)
        self._update(lambda line: replace(line, sealed=max(line.sealed, before)))
        return written

    def rebuild(self, since: int) -> int:
        """Count every sealed hour from ``since`` on again, in a new epoch, so these counts replace the
        buckets whatever they held; return how many were written."""
        line = self._update(lambda line: replace(line, epoch=line.epoch + 1))
        start = since // NS_PER_HOUR * NS_PER_HOUR
        if start >= line.sealed:
            return 0
        written = self._count(start, line.sealed, line.epoch)
        self._refresh(self._layout.rollups_index)
        return written

    def recount(self, hits: Sequence[Hit]) -> None:
        """After ``hits`` were written: count again every hour of theirs that a sealer has started on.

        Each daily index concerned is counted after a refresh, between two reads of its
        uuid; should retention have deleted it meanwhile, the hits are lost with it, and
        :class:`StoreUnavailable` has the batch written again.
        """
        line = self.line()
        late = [hit for hit in hits if hit.timestamp < line.sealing]
        if not late:
            return
        by_day: dict[int, list[Hit]] = {}
        for hit in late:
            by_day.setdefault(hit.timestamp // NS_PER_DAY, []).append(hit)
        for day, day_hits in by_day.items():
            index = self._layout.index(day)
            start = min(hit.timestamp for hit in day_hits) // NS_PER_HOUR * NS_PER_HOUR
            end = min(line.sealing, (max(hit.timestamp for hit in day_hits) // NS_PER_HOUR + 1) * NS_PER_HOUR)
            ids = sorted({hit.id for hit in day_hits})
            if self._count_generation(index, start, end, line.epoch, ids) is None:
                raise StoreUnavailable(f"retention deleted {index} while hits for it were written: writing them again")
        log.info("counted %d hits for hours already sealing again into their buckets", len(late))

    def _count(self, start: int, end: int, epoch: int) -> int:
        """Count the hours in [start, end) of every daily index holding some of them into buckets."""
        with self._errors("listing the daily indices"):
            resolved = self._client.indices.resolve_index(
                name=self._layout.daily_pattern, expand_wildcards="open,closed"
            )
        days = sorted(
            day
            for entry in resolved["indices"]
            if (day := self._layout.day_of(entry["name"])) is not None
            and day * NS_PER_DAY < end
            and (day + 1) * NS_PER_DAY > start
        )
        if days:  # all of them (one name for any number: a URL of 365 names is too long for Elasticsearch)
            self._refresh(self._layout.daily_pattern)
        written = 0
        for day in days:
            index = self._layout.index(day)
            first, last = max(start, day * NS_PER_DAY), min(end, (day + 1) * NS_PER_DAY)
            while (counted := self._count_generation(index, first, last, epoch)) is None:
                if self._generation(index) is None:
                    break  # retention deleted it: its hours are sealed already
            written += counted or 0
        return written

    def _count_generation(self, index: str, start: int, end: int, epoch: int, ids: Sequence[str] = ()) -> int | None:
        """Count [start, end) of ``index`` (refreshed) into buckets of its generation; None if the index was
        deleted or made again meanwhile, so that the counts may belong to no generation."""
        generation = self._generation(index)
        if generation is None:
            return None
        if ids:
            self._refresh(index)
        written = 0
        after: dict[str, Any] | None = None
        while True:
            arguments = hour_counts(start, end, ids)
            if after is not None:
                arguments["aggregations"]["buckets"]["composite"]["after"] = after
            with self._errors(f"counting the hours of {index}"):
                try:
                    page = self._client.search(index=index, **arguments)["aggregations"]["buckets"]
                except NotFoundError:
                    return None
            buckets = [
                (bucket["key"][ID_FIELD], bucket["key"]["hour"] * NS_PER_MILLISECOND, bucket["doc_count"])
                for bucket in page["buckets"]
            ]
            if buckets:
                entries = bucket_entries(self._layout.rollups_index, generation, epoch, buckets)
                failures = bulk.unaccepted(self._bulk(entries), (200, 201, 409))
                if failures:
                    raise StoreError(f"{len(failures)} of {len(buckets)} hourly counts not written, e.g. {failures[0]}")
                written += len(buckets)
            after = page.get("after_key")
            if after is None or not buckets:
                break
        return written if self._generation(index) == generation else None

    def _generation(self, index: str) -> str | None:
        """The uuid of ``index``, or None when there is no such index."""
        with self._errors(f"reading the uuid of {index}"):
            try:
                settings = self._client.indices.get_settings(index=index, name="index.uuid")
            except NotFoundError:
                return None
        return str(settings[index]["settings"]["index"]["uuid"])

    def _refresh(self, index: str) -> None:
        with self._errors(f"refreshing {index}"):
            self._client.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
