"""The searches that rank ids (:meth:`HitStore.top`): a ``terms`` aggregation over the window's hits, or
over the buckets and hits a total counts.

A ``terms`` aggregation over several shards (a daily index is one) is approximate: each
shard sends its own top ``shard_size`` ids, so an id just outside some shard's list is
counted short there, and one short everywhere may be left out. The ranking is therefore
two searches: the first names candidates, with a generous ``shard_size``; the second
counts only those, which every shard then sends whole, so each count given is exact (the
one ``GET /analytics/<id>`` gives), and only an id near the bottom of a ranking over many
thousands may be missing. A total adds an id's buckets and its hits in one ``sum``: a
bucket's ``count``, or 1 for a hit (:data:`~hitcount.store_elastic.query.SUM_OF_TOTAL`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hitcount.core.windows import Window
from hitcount.store_elastic.layout import ID_FIELD, Layout
from hitcount.store_elastic.query import SUM_OF_TOTAL, aggregating, counted_in_total, within

AGGREGATION = "top"
HITS = "hits"
# Candidates each shard sends, at least: ids a ranking of ``limit`` may take from one shard.
SHARD_SIZE = 1_000


def indices(layout: Layout, window: Window | None, now: int, sealed: int) -> list[str]:
    """The indices a ranking of ``window`` (None: totals) reads: the daily indices of its hits, and for
    totals the rollups index."""
    if window is None:
        return [*layout.indices_since(sealed, now), layout.rollups_index]
    return layout.indices_since(window.start(now), now)


def search_arguments(
    layout: Layout, window: Window | None, now: int, sealed: int, *, prefix: str, size: int, ids: Sequence[str] = ()
) -> dict[str, Any]:
    """Keyword arguments of ``Elasticsearch.search`` ranking the ``size`` ids of ``prefix`` (or all of ``ids``)
    with the most hits in ``window`` at ``now``, or the largest totals, the hours before ``sealed`` from
    their buckets, over :func:`indices`."""
    filters: list[dict[str, Any]] = []
    if prefix:
        filters.append({"prefix": {ID_FIELD: prefix}})
    if ids:
        filters.append({"terms": {ID_FIELD: list(ids)}})
    if window is None:
        filters.append(counted_in_total(layout, now, sealed))
        order: list[dict[str, str]] = [{HITS: "desc"}, {"_key": "asc"}]
        counted = {HITS: SUM_OF_TOTAL}
    else:
        filters.append(within(window, now))
        order = [{"_count": "desc"}, {"_key": "asc"}]
        counted = {}
    terms = {"field": ID_FIELD, "size": size, "shard_size": size if ids else max(SHARD_SIZE, 10 * size), "order": order}
    aggregation = {"terms": terms, **({"aggregations": counted} if counted else {})}
    return {
        **aggregating(filters, {AGGREGATION: aggregation}),
        "filter_path": f"aggregations.{AGGREGATION}.buckets.key,aggregations.{AGGREGATION}.buckets.doc_count,"
        f"aggregations.{AGGREGATION}.buckets.{HITS}.value",
    }


def ranking_from(response: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The ``(id, count)`` pairs of a response to :func:`search_arguments`, in its order."""
    buckets = response.get("aggregations", {}).get(AGGREGATION, {}).get("buckets", [])
    return [
        (bucket["key"], round(bucket[HITS]["value"]) if HITS in bucket else bucket["doc_count"]) for bucket in buckets
    ]
