"""The bulk request of a batch of hits (and of their visitors), and what each item of its response means.

Building the body is the indexer's hot path (thousands of hits per request, tens of
thousands a second), so it is plain string formatting with per-batch memos for the
parts hits share (their day's index, their id's JSON, their second), encoded once.
Item triage is a pure function of the response so that its rules are tested without
having to make a real cluster answer 429 on cue.
"""

from __future__ import annotations

import base64
import enum
import hashlib
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any

from hitcount.core.hit import Hit
from hitcount.core.windows import NS_PER_DAY, NS_PER_SECOND
from hitcount.store_elastic.layout import ID_FIELD, TIMESTAMP_FIELD, VISITOR_FIELD, Layout, second_text

# Only what triage reads: a response for 10,000 hits is parsed in a fraction of the time.
RESPONSE_FILTER = "errors,items.*.status,items.*.error"


def document_id(id: str, uid: bytes) -> str:
    """The ``_id`` of a hit: a 16-byte BLAKE2b digest of its uid and UTF-8 id, in unpadded base64url.

    Derived from the hit alone, so every copy of a hit gets the same ``_id`` and a
    redelivered ``create`` conflicts instead of adding a document; derived from the id
    too, so that a uid a client gave to hits of several ids counts for each (the uid
    alone, as before, let the first id's document swallow the others). The uid has a
    fixed length, so uid and id concatenated are never ambiguous. The price is an id
    lookup per document, which auto-generated ids skip; ids prefixed with the hit's time
    won none of it back (``bench/layout_cpu.py`` measures both), so the id stays this short.
    """
    digest = hashlib.blake2b(uid + id.encode("utf-8"), digest_size=16).digest()
    return base64.urlsafe_b64encode(digest)[:22].decode("ascii")


def visitor_document_id(id: str, visitor: int) -> str:
    """The ``_id`` of a visitor's document in the visitors index: :func:`document_id` of the id and
    the key's eight bytes (a fixed length too), so every hit of a visitor of an id meets the same one."""
    return document_id(id, visitor.to_bytes(8, "big", signed=True))


@dataclass(frozen=True)
class Actions:
    """A batch's bulk actions as NDJSON text (two lines each), and the position of the hit each one is for.

    The first ``len(hits)`` actions ``create`` the hits, in order. Then comes one action per
    visitor of an id among the batch: it indexes the visitor's document with the time of
    the visitor's latest hit of the id in the batch, as its document and as its *external
    version*, so that Elasticsearch keeps it only if it is later than the document's (a 409
    otherwise: a later hit is there already, or this very one). Whatever order hits and
    their copies arrive in, the document ends up holding the visitor's latest hit. The hit
    it carries is the one its failure is reported for.
    """

    entries: list[str]
    hits: list[int]


def encode(hits: Sequence[Hit], layout: Layout) -> Actions:
    """The bulk actions of ``hits``, built with per-batch memos of what hits share.

    A hit's visitor key is written into its document as a JSON integer (a ``long`` holds every
    signed 64-bit key exactly); a hit without one has no ``visitor`` field and no visitor action.
    """
    indices: dict[int, str] = {}
    ids: dict[str, str] = {}
    seconds: dict[int, str] = {}
    entries = []
    fields = []
    # Position of the latest hit of each (id, visitor key) in the batch.
    latest: dict[tuple[str, int], int] = {}
    for position, hit in enumerate(hits):
        timestamp = hit.timestamp
        day = timestamp // NS_PER_DAY
        index = indices.get(day)
        if index is None:
            index = indices[day] = layout.index_of(timestamp)
        quoted_id = ids.get(hit.id)
        if quoted_id is None:
            quoted_id = ids[hit.id] = encode_basestring_ascii(hit.id)
        second, nanosecond = divmod(timestamp, NS_PER_SECOND)
        second_prefix = seconds.get(second)
        if second_prefix is None:
            second_prefix = seconds[second] = second_text(second)
        shared = f'{{"{ID_FIELD}":{quoted_id},"{TIMESTAMP_FIELD}":"{second_prefix}.{nanosecond:09d}Z"'
        fields.append(shared)
        visitor = hit.visitor
        action = f'{{"create":{{"_index":"{index}","_id":"{document_id(hit.id, hit.uid)}"}}}}\n{shared}'
        if visitor is None:
            entries.append(action + "}\n")
            continue
        entries.append(f'{action},"{VISITOR_FIELD}":{visitor}}}\n')
        seen = latest.get((hit.id, visitor))
        if seen is None or hits[seen].timestamp < timestamp:
            latest[hit.id, visitor] = position
    visitors_index = layout.visitors_index
    for (id, visitor), position in latest.items():
        entries.append(
            f'{{"index":{{"_index":"{visitors_index}","_id":"{visitor_document_id(id, visitor)}",'
            f'"version":{hits[position].timestamp},"version_type":"external"}}}}\n{fields[position]}}}\n'
        )
    return Actions(entries, [*range(len(hits)), *latest.values()])


def deletions(index: str, found: Sequence[Mapping[str, Any]]) -> list[str]:
    """A ``delete`` of each document ``found`` in ``index`` (search hits with ``_id`` and ``_version``)
    that holds only while the document keeps that version: ``external_gte`` refuses it (409) once a
    later hit has raised the version."""
    return [
        f'{{"delete":{{"_index":"{index}","_id":"{document["_id"]}",'
        f'"version":{document["_version"]},"version_type":"external_gte"}}}}\n'
        for document in found
    ]


def unaccepted(items: Sequence[Mapping[str, Mapping[str, Any]]], accepted: Container[int]) -> list[str]:
    """What failed among a response's items: every status not ``accepted``. Of :func:`deletions`, a 409
    (the document changed since) and a 404 (someone else deleted it) are not failures; of hourly counts, a
    409 (a larger count is there)."""
    return [describe(item) for wrapped in items if (item := next(iter(wrapped.values())))["status"] not in accepted]


class Outcome(enum.Enum):
    """What one bulk item's status means for the hit it carried."""

    # Created now, or already there: a 409 on a hit's create means the same id and uid were stored before;
    # on a visitor's index, that its document holds this hit or a later one.
    STORED = "stored"
    RETRY = "retry"  # the cluster is busy (429) or failing (5xx): send just this item again
    DENIED = "denied"  # 401/403: credentials or privileges are wrong, the hit is fine
    REFUSED = "refused"  # anything else: this hit will fail again however often it is sent


def outcome(status: int) -> Outcome:
    """Classify one bulk item by its HTTP status."""
    if status in (200, 201, 409):
        return Outcome.STORED
    if status == 429 or status >= 500:
        return Outcome.RETRY
    if status in (401, 403):
        return Outcome.DENIED
    return Outcome.REFUSED


@dataclass
class Triage:
    """The items of one bulk response that were not stored, by outcome and position in that request."""

    failed: dict[Outcome, list[int]] = field(default_factory=dict)
    # The first failure of each outcome, for error messages.
    examples: dict[Outcome, str] = field(default_factory=dict)
    # Why each refused item was refused, by position: the dead letter of its hit says it.
    refusals: dict[int, str] = field(default_factory=dict)

    def positions(self, kind: Outcome) -> list[int]:
        return self.failed.get(kind, [])

    def summary(self) -> str:
        """``3 refused, e.g. 400 ...; 2 retry, e.g. 429 ...``."""
        return "; ".join(f"{len(self.failed[kind])} {kind.value}, e.g. {self.examples[kind]}" for kind in self.failed)


def describe(item: Mapping[str, Any]) -> str:
    """``400 index_closed_exception: closed (index hitcount-hits-2024.01.01)`` for one failed item."""
    error = item.get("error") or {}
    if not isinstance(error, Mapping):
        return f"{item.get('status')} {error}"
    where = f" (index {error['index']})" if error.get("index") else ""
    return f"{item.get('status')} {error.get('type', 'error')}: {error.get('reason', '')}{where}"


def triage(items: Sequence[Mapping[str, Mapping[str, Any]]]) -> Triage:
    """Sort a bulk response's ``items`` (``[{"create": {"status": ..., "error": ...}}, ...]``) by outcome."""
    result = Triage()
    for position, wrapped in enumerate(items):
        item = next(iter(wrapped.values()))
        kind = outcome(item["status"])
        if kind is not Outcome.STORED:
            described = describe(item)
            result.failed.setdefault(kind, []).append(position)
            result.examples.setdefault(kind, described)
            if kind is Outcome.REFUSED:
                result.refusals[position] = described
    return result
