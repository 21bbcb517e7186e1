"""How hits are laid out in Elasticsearch: one index per UTC day, its template, its mapping.

The workload is append-only and time-ordered, read only over the last three days and
deleted by age, so each UTC day gets its own index, ``<prefix>-YYYY.MM.DD``:

- a hit's index follows from its own timestamp, so a redelivered copy always lands in
  the index holding the first one and its ``create`` meets the same ``_id`` (a data
  stream would route by arrival time, and after a rollover the copy would be a second
  document in a new backing index);
- counting searches only the daily indices that can hold the longest window, whatever
  the retention; retention deletes whole indices, which costs nothing compared with
  deleting documents.

Visitors have one index of their own, ``<prefix>-visitors``: a document per id and visitor
key holding the time of that visitor's latest hit of the id (:mod:`hitcount.store_elastic.bulk`
writes it, :mod:`hitcount.store_elastic.query` counts it). Not daily, because a key may come
back on another day and must stay one document; retention deletes its documents by age.
Hourly rollups have one too, ``<prefix>-rollups`` (:mod:`hitcount.store_elastic.rollups`).

The index templates, which the store installs itself, give every index its settings and
mapping before the first document arrives, so no index is ever created with dynamic
(wrong) field types.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hitcount.core.windows import NS_PER_DAY, NS_PER_SECOND

ID_FIELD = "id"
TIMESTAMP_FIELD = "@timestamp"
VISITOR_FIELD = "visitor"
COUNT_FIELD = "count"
# How timestamps are written and queried: ISO 8601 with all nine fractional digits, UTC.
TIMESTAMP_FORMAT = "strict_date_optional_time_nanos"
MANAGED_BY = "hitcount-store-elastic"
# A kept value, neither searched nor aggregated.
_KEPT: dict[str, Any] = {"type": "long", "index": False, "doc_values": False}
# The fields of a visitor's document: the id, and the time of the visitor's latest hit of it.
VISITOR_PROPERTIES: dict[str, dict[str, Any]] = {
    ID_FIELD: {"type": "keyword"},
    TIMESTAMP_FIELD: {"type": "date_nanos", "format": TIMESTAMP_FORMAT},
}
# The fields of a hit's document; the template maps them, and the store adds them to daily indices
# made by an older template (:meth:`ElasticStore._install_templates`).
PROPERTIES: dict[str, dict[str, Any]] = {
    **VISITOR_PROPERTIES,
    VISITOR_FIELD: _KEPT,
}
# The fields of the rollups index: an hourly bucket's id, hour and count (summed, so with doc values), and
# the seal line's fields (:mod:`hitcount.store_elastic.rollups`).
ROLLUP_PROPERTIES: dict[str, dict[str, Any]] = {
    **VISITOR_PROPERTIES,
    COUNT_FIELD: {"type": "long", "index": False},
    "sealed": _KEPT,
    "sealing": _KEPT,
    "epoch": _KEPT,
}
# The most daily indices a search names one by one; a longer span reads the prefix's pattern.
MOST_NAMED_DAYS = 32
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


@functools.lru_cache(maxsize=64)
def day_text(day: int) -> str:
    """``YYYY.MM.DD`` of the UTC day ``day`` (days since 1970-01-01)."""
    return time.strftime("%Y.%m.%d", time.gmtime(day * 86400))


def second_text(second: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of a UTC second since the epoch."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def timestamp_text(timestamp: int) -> str:
    """A nanosecond timestamp as ``date_nanos`` reads it exactly: ``2024-01-31T23:59:59.123456789Z``."""
    second, nanosecond = divmod(timestamp, NS_PER_SECOND)
    return f"{second_text(second)}.{nanosecond:09d}Z"


@dataclass(frozen=True)
class Layout:
    """The daily indices of one prefix and the template that shapes them."""

    prefix: str
    shards: int = 1
    replicas: int | str = "0-1"
    refresh_interval: float = 30.0

    @property
    def template_name(self) -> str:
        return self.prefix

    @property
    def pattern(self) -> str:
        """The wildcard matching every index of this prefix: the daily ones, the visitors' and the rollups'."""
        return f"{self.prefix}-*"

    @property
    def visitors_index(self) -> str:
        """The index of visitor documents (also the name of its template)."""
        return f"{self.prefix}-visitors"

    @property
    def rollups_index(self) -> str:
        """The index of hourly buckets and the seal line (also the name of its template)."""
        return f"{self.prefix}-rollups"

    @property
    def daily_pattern(self) -> str:
        """Every daily index of this prefix, as a multi-target expression."""
        return f"{self.pattern},-{self.visitors_index},-{self.rollups_index}"

    def index(self, day: int) -> str:
        """The index of UTC day ``day`` (days since 1970-01-01)."""
        return f"{self.prefix}-{day_text(day)}"

    def index_of(self, timestamp: int) -> str:
        """The index a hit at ``timestamp`` (ns) is written to."""
        return self.index(timestamp // NS_PER_DAY)

    def indices_since(self, start: int, now: int) -> list[str]:
        """The daily indices that can hold hits in [start, now], oldest first; beyond
        :data:`MOST_NAMED_DAYS` of them, the pattern of every index of the prefix instead."""
        first, last = start // NS_PER_DAY, now // NS_PER_DAY
        if last - first >= MOST_NAMED_DAYS:
            return [self.pattern]
        return [self.index(day) for day in range(first, last + 1)]

    @functools.cached_property
    def _daily_name(self) -> re.Pattern[str]:
        return re.compile(rf"^{re.escape(self.prefix)}-(\d{{4}})\.(\d{{2}})\.(\d{{2}})$")

    def day_of(self, index: str) -> int | None:
        """The UTC day an index of this layout holds, or None for any other name."""
        match = self._daily_name.match(index)
        if match is None:
            return None
        try:
            date = datetime.date(*(int(part) for part in match.groups()))
        except ValueError:
            return None
        return date.toordinal() - _EPOCH_ORDINAL

    def expired(self, indices: Iterable[str], before: int) -> list[str]:
        """The daily indices whose whole day ends at or before ``before`` (ns), oldest first.

        An index holds hits in [its midnight, the next midnight); only when that next
        midnight is not after ``before`` can none of its hits be at or after ``before``.
        """
        days = {index: self.day_of(index) for index in indices}
        return sorted(index for index, day in days.items() if day is not None and (day + 1) * NS_PER_DAY <= before)

    def template(self) -> dict[str, Any]:
        """The composable index template, with a digest of itself in ``_meta`` to skip needless updates.

        Why each setting:

        - ``dynamic: strict`` and an explicit mapping: a malformed document is refused
          instead of silently adding fields; ``id`` is a ``keyword`` (exact match, no
          analysis, no norms, no positions) and the timestamp a ``date_nanos`` because
          windows are exact to the nanosecond.
        - ``visitor`` (the hit's signed 64-bit visitor key, absent when it has none) is kept
          in ``_source`` alone, neither indexed nor with doc values: visitors are counted
          from the visitors index (:meth:`visitors_template`), and the hits keep their keys
          so that it can be rebuilt from them. :data:`PROPERTIES` are also added to
          existing daily indices when the store opens, so the index of the day of an
          upgrade, made by the template without ``visitor``, accepts visitor keys instead of
          refusing them (``dynamic: strict``).
        - ``_source`` stays (about 60 bytes a hit before compression): without it an index
          could never be reindexed into a new mapping, sort or shard count.
        - index sorting by (id, timestamp): every segment keeps one id's hits together in
          time order, so the term query of a count reads one contiguous run of documents
          and the range filters read adjacent, delta-compressible doc values; both sort
          fields need doc values, which is why they are kept. Sorting costs nothing
          measurable while indexing and a little when a segment is written
          (``bench/layout_cpu.py``): cheap insurance for daily indices far larger than a
          benchmark can build.
        - ``refresh_interval`` (default 30 s): refreshing makes small segments that must be
          merged again; the product allows minutes between a write and its count.
        - ``translog.durability: request``: a bulk write is fsynced before it is
          acknowledged, which is what :meth:`HitStore.write` promises.
        - replicas: by default ``auto_expand_replicas: 0-1``, one replica as soon as a
          second data node exists (a node's loss loses no hit) and none on a single node,
          where a replica could never be assigned and the indices would stay yellow.
        - ``write.wait_for_active_shards: 1`` (Elasticsearch's default, stated so that an
          operator's cluster-wide change cannot slip in): a write starts once its primary
          is active. It is a check before the write, not a durability level: Elasticsearch
          acknowledges a write only once every in-sync copy (the primary and each assigned
          replica) has it, so with a replica, one node's death loses no acknowledged hit.
          Asking for 2 (``all`` with one replica) would stop every write while a node is
          down, until its replicas are rebuilt elsewhere (a minute at least, never on a
          two-node cluster): the queue would fill for a gain only against a second node
          dying before the first is replaced.
        - priority grows with the prefix's length, so that of two overlapping prefixes
          (``hitcount-hits`` and ``hitcount-hits-staging``) the longer, more specific one
          wins instead of Elasticsearch refusing two templates of equal priority.
        """
        return self._composed([self.pattern], 200 + len(self.prefix), PROPERTIES)

    def visitors_template(self) -> dict[str, Any]:
        """The template of the visitors index: the daily indices' settings, and the fields of a visitor's document.

        It also matches the daily template's pattern, so its priority is above any daily
        template's: of two matching templates, Elasticsearch applies the higher alone.
        """
        return self._composed([self.visitors_index], 400 + len(self.prefix), VISITOR_PROPERTIES)

    def rollups_template(self) -> dict[str, Any]:
        """The template of the rollups index, above the daily templates as the visitors template is."""
        return self._composed([self.rollups_index], 400 + len(self.prefix), ROLLUP_PROPERTIES)

    @property
    def template_names(self) -> tuple[str, str, str]:
        """The daily template's name, the visitors template's and the rollups template's."""
        return self.template_name, self.visitors_index, self.rollups_index

    def templates(self) -> dict[str, dict[str, Any]]:
        """Every template of this layout by name."""
        bodies = (self.template(), self.visitors_template(), self.rollups_template())
        return dict(zip(self.template_names, bodies, strict=True))

    def _composed(self, patterns: list[str], priority: int, properties: dict[str, Any]) -> dict[str, Any]:
        """A template of the layout's settings for ``patterns``, mapping ``properties``, digested."""
        replicas = (
            {"number_of_replicas": self.replicas}
            if isinstance(self.replicas, int)
            else {"auto_expand_replicas": self.replicas}
        )
        body: dict[str, Any] = {
            "index_patterns": patterns,
            "priority": priority,
            "template": {
                "settings": {
                    "index": {
                        "number_of_shards": self.shards,
                        **replicas,
                        "refresh_interval": f"{round(self.refresh_interval * 1000)}ms",
                        "translog": {"durability": "request"},
                        "write": {"wait_for_active_shards": "1"},
                        "sort": {"field": [ID_FIELD, TIMESTAMP_FIELD], "order": ["asc", "asc"]},
                    }
                },
                "mappings": {"dynamic": "strict", "properties": properties},
            },
        }
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        return {**body, "_meta": {"managed_by": MANAGED_BY, "digest": digest}}
