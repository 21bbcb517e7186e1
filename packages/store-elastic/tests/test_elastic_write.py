"""Bulk writes on a real Elasticsearch: idempotence, refused items, and items re-sent while a shard is away."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest
from elastic_testing import MIDNIGHT, StoreOpener
from elasticsearch import Elasticsearch

from hitcount.core.errors import HitsRefused, StoreUnavailable
from hitcount.core.hit import Hit, now_ns
from hitcount.core.testing.conformance import TRICKY_IDS
from hitcount.core.testing.processes import wait_until
from hitcount.store_elastic import bulk
from hitcount.store_elastic.bulk import Outcome
from hitcount.store_elastic.layout import Layout, timestamp_text

DAY = "2024.03.01"  # the day of MIDNIGHT
PREVIOUS_DAY = "2024.02.29"


def _indexing(admin: Elasticsearch, index: str) -> dict[str, int]:
    stats = admin.indices.stats(index=index, metric="indexing")
    indexing: dict[str, int] = stats["_all"]["primaries"]["indexing"]
    return indexing


@pytest.fixture
def unassigned_index(admin: Elasticsearch, prefix: str) -> str:
    """The daily index of 2024-03-01, created with its only shard unassignable: it exists but takes nothing."""
    index = f"{prefix}-{DAY}"
    admin.indices.create(
        index=index, settings={"index.routing.allocation.require._name": "no-such-node"}, wait_for_active_shards="0"
    )
    return index


def test_a_redelivered_batch_adds_no_document(open_store: StoreOpener, admin: Elasticsearch, prefix: str) -> None:
    store = open_store()
    hits = [Hit("again", MIDNIGHT + n) for n in range(50)]
    store.write(hits)
    store.write(hits)
    store.write(hits[::-1])
    admin.indices.refresh(index=f"{prefix}-*")
    assert admin.count(index=f"{prefix}-{DAY}")["count"] == 50


def test_a_hit_for_a_closed_index_is_refused_alone_and_the_others_are_stored(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    store = open_store()
    store.write([Hit("closed", MIDNIGHT)])
    admin.indices.close(index=f"{prefix}-{DAY}")
    with pytest.raises(HitsRefused, match="index_closed_exception") as refusal:
        store.write([Hit("open", MIDNIGHT - 1), Hit("closed", MIDNIGHT + 1)])
    assert "refused 1 of 2 hits" in str(refusal.value)
    assert list(refusal.value.refused) == [1]
    assert "index_closed_exception" in refusal.value.refused[1]
    admin.indices.refresh(index=f"{prefix}-{PREVIOUS_DAY}")
    assert admin.count(index=f"{prefix}-{PREVIOUS_DAY}")["count"] == 1


def test_a_document_its_index_mapping_rejects_is_refused_alone_and_the_others_are_stored(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    store = open_store()
    # An index created by someone else before the store got to it, with an incompatible mapping.
    admin.indices.create(index=f"{prefix}-{DAY}", mappings={"properties": {"id": {"type": "long"}}})
    hits = [Hit("12", MIDNIGHT), Hit("not-a-number", MIDNIGHT + 1), Hit("34", MIDNIGHT + 2)]
    with pytest.raises(HitsRefused, match=r"document_parsing_exception|mapper_parsing_exception") as refusal:
        store.write(hits)
    assert list(refusal.value.refused) == [1]
    admin.indices.refresh(index=f"{prefix}-{DAY}")
    assert admin.count(index=f"{prefix}-{DAY}")["count"] == 2


def test_items_of_an_unavailable_shard_are_resent_alone_until_stored(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str, unassigned_index: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(HITCOUNT_ELASTIC_TIMEOUT="2s")  # each item waits 1 s for its shard
    hits = [Hit("late", MIDNIGHT + n) for n in range(3)] + [Hit("early", MIDNIGHT - 1 - n) for n in range(3)]
    failures: list[BaseException] = []

    def write() -> None:
        try:
            store.write(hits)
        except BaseException as error:  # handed to the test's thread
            failures.append(error)

    writer = threading.Thread(target=write)
    with caplog.at_level(logging.WARNING, logger="hitcount.store_elastic.store"):
        writer.start()
        deadline = time.monotonic() + 20
        while not any("re-sending 3 of 6 actions" in record.getMessage() for record in caplog.records):
            assert time.monotonic() < deadline, "the store never re-sent the items of the unassigned shard"
            time.sleep(0.05)
        admin.indices.put_settings(index=unassigned_index, settings={"index.routing.allocation.require._name": None})
        writer.join(30)
    assert not writer.is_alive()
    assert failures == []
    store.refresh()
    assert store.counts("late", MIDNIGHT + 10).values == (3, 3, 3, 3, 3)
    assert store.counts("early", MIDNIGHT + 10).values == (3, 3, 3, 3, 3)
    # The stored items were not sent again (a second create would have been a version conflict).
    assert _indexing(admin, f"{prefix}-{PREVIOUS_DAY}")["index_failed_due_to_version_conflict"] == 0


def test_items_whose_shard_stays_unavailable_raise_store_unavailable_after_bounded_retries(
    open_store: StoreOpener, unassigned_index: str
) -> None:
    # Each bulk waits half the timeout for the shard (1.5 s), leaving the request as much again to
    # come back on a loaded machine (with 1 s, it once timed out whole: a message without the shard's).
    store = open_store(HITCOUNT_ELASTIC_TIMEOUT="3s")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="unavailable_shards_exception"):
        store.write([Hit("stuck", MIDNIGHT), Hit("fine", MIDNIGHT - 1)])
    # Five attempts of 1.5 s and the pauses between them (about 10 s), never the default 27 s.
    assert time.monotonic() - started < 25


def test_counting_over_an_unavailable_shard_raises_instead_of_undercounting(
    open_store: StoreOpener, unassigned_index: str
) -> None:
    store = open_store()
    store.write([Hit("partial", MIDNIGHT - 1)])  # the previous day's index is fine
    with pytest.raises(StoreUnavailable):
        store.counts("partial", MIDNIGHT + 1)


def test_health_is_not_ok_while_a_daily_index_is_red(open_store: StoreOpener, unassigned_index: str) -> None:
    health = open_store().health()
    assert not health.ok
    assert "red" in health.detail


def test_bulk_body_is_one_create_with_the_hits_document_id_and_one_exact_document_per_hit() -> None:
    hits = [Hit(id, now_ns() - n) for n, id in enumerate(TRICKY_IDS)]
    lines = "".join(bulk.encode(hits, Layout("hits")).entries).splitlines()
    assert len(lines) == 2 * len(hits)
    for hit, action, document in zip(hits, lines[::2], lines[1::2], strict=True):
        target = {"_index": Layout("hits").index_of(hit.timestamp), "_id": bulk.document_id(hit.id, hit.uid)}
        assert json.loads(action) == {"create": target}
        assert json.loads(document) == {"id": hit.id, "@timestamp": timestamp_text(hit.timestamp)}


@pytest.mark.parametrize("visitor", [-(2**63), -1, 0, 2**63 - 1])
def test_a_hits_visitor_key_is_written_exactly_and_a_hit_without_one_has_no_visitor_field(visitor: int) -> None:
    hits = [Hit("keyed", MIDNIGHT, visitor=visitor), Hit("unkeyed", MIDNIGHT)]
    documents = [json.loads(line) for line in "".join(bulk.encode(hits, Layout("hits")).entries).splitlines()[1::2]]
    assert documents[:2] == [
        {"id": "keyed", "@timestamp": timestamp_text(MIDNIGHT), "visitor": visitor},
        {"id": "unkeyed", "@timestamp": timestamp_text(MIDNIGHT)},
    ]


def test_each_visitor_of_an_id_gets_one_action_carrying_its_latest_hit_as_the_external_version() -> None:
    hits = [
        Hit("page", MIDNIGHT + 5, visitor=1),
        Hit("page", MIDNIGHT + 9, visitor=1),  # the latest of visitor 1 on "page"
        Hit("page", MIDNIGHT + 7, visitor=1),
        Hit("other", MIDNIGHT + 1, visitor=1),
        Hit("page", MIDNIGHT + 3, visitor=2),
        Hit("page", MIDNIGHT + 4),
    ]
    actions = bulk.encode(hits, Layout("hits"))
    lines = "".join(actions.entries).splitlines()
    assert len(lines) == 2 * (len(hits) + 3)
    visitors = [
        (json.loads(action)["index"], json.loads(document))
        for action, document in zip(lines[12::2], lines[13::2], strict=True)
    ]
    assert visitors == [
        (
            {
                "_index": "hits-visitors",
                "_id": bulk.visitor_document_id(id, key),
                "version": time,
                "version_type": "external",
            },
            {"id": id, "@timestamp": timestamp_text(time)},
        )
        for id, key, time in (("page", 1, MIDNIGHT + 9), ("other", 1, MIDNIGHT + 1), ("page", 2, MIDNIGHT + 3))
    ]
    assert actions.hits == [0, 1, 2, 3, 4, 5, 1, 3, 4]


def test_a_visitors_document_keeps_its_latest_hit_whatever_order_hits_and_copies_come_in(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    store = open_store()
    hits = [Hit("late", MIDNIGHT + n, visitor=7) for n in range(6)]
    store.write(hits[3:])
    store.write(hits[:3])  # older: 409s, the document keeps the sixth hit
    store.write([hits[5], hits[4]])  # copies
    admin.indices.refresh(index=f"{prefix}-visitors")
    document = admin.get(index=f"{prefix}-visitors", id=bulk.visitor_document_id("late", 7))
    assert (document["_version"], document["_source"]) == (
        MIDNIGHT + 5,
        {"id": "late", "@timestamp": timestamp_text(MIDNIGHT + 5)},
    )
    store.refresh()
    counts = store.counts("late", MIDNIGHT + 6)
    assert (counts.values, counts.visitors) == ((6,) * 5, (1,) * 5)


def test_a_hit_whose_visitors_document_is_refused_is_refused_and_counted_once_when_stored_again(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    store = open_store()
    store.write([Hit("seen", MIDNIGHT, visitor=1)])
    admin.indices.close(index=f"{prefix}-visitors")
    hits = [Hit("seen", MIDNIGHT + 1), Hit("seen", MIDNIGHT + 2, visitor=2)]
    with pytest.raises(HitsRefused, match="index_closed_exception") as refusal:
        store.write(hits)
    assert refusal.value.refused.keys() == {1}
    admin.indices.open(index=f"{prefix}-visitors")
    store.write([hits[1]])
    store.refresh()
    counts = store.counts("seen", MIDNIGHT + 3)
    assert (counts.values, counts.visitors) == ((3,) * 5, (2,) * 5)


def test_purge_deletes_the_documents_of_visitors_last_seen_before_it(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    store = open_store()
    store.write(
        [Hit("gone", MIDNIGHT - 2, visitor=1), Hit("gone", MIDNIGHT - 1, visitor=2), Hit("gone", MIDNIGHT, visitor=2)]
    )
    store.refresh()
    store.purge(MIDNIGHT)
    visitors = f"{prefix}-visitors"

    def remaining() -> list[str]:
        admin.indices.refresh(index=visitors)
        return [hit["_id"] for hit in admin.search(index=visitors)["hits"]["hits"]]

    wait_until(lambda: remaining() == [bulk.visitor_document_id("gone", 2)], "the purge of visitor 1's document")


def test_document_ids_are_22_url_safe_characters_that_differ_per_uid_and_per_id() -> None:
    hits = [Hit("x", 0) for _ in range(1000)]
    ids = {bulk.document_id(hit.id, hit.uid) for hit in hits}
    ids |= {bulk.document_id(id, hits[0].uid) for id in TRICKY_IDS}
    assert len(ids) == 1000 + len(TRICKY_IDS)
    assert all(len(id) == 22 and id.replace("-", "").replace("_", "").isalnum() for id in ids)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (201, Outcome.STORED),
        (200, Outcome.STORED),
        (409, Outcome.STORED),  # a create that met the same _id: this very hit is already stored
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (401, Outcome.DENIED),
        (403, Outcome.DENIED),
        (400, Outcome.REFUSED),
        (404, Outcome.REFUSED),
    ],
)
def test_each_item_status_has_one_outcome(status: int, expected: Outcome) -> None:
    assert bulk.outcome(status) is expected


def test_triage_reports_positions_of_unstored_items_and_one_example_each() -> None:
    items: list[dict[str, dict[str, Any]]] = [
        {"create": {"status": 201}},
        {"create": {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}},
        {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "exists"}}},
        {"create": {"status": 400, "error": {"type": "index_closed_exception", "reason": "closed", "index": "h-1"}}},
        {"create": {"status": 503, "error": {"type": "unavailable_shards_exception", "reason": "no primary"}}},
    ]
    triage = bulk.triage(items)
    assert triage.positions(Outcome.RETRY) == [1, 4]
    assert triage.positions(Outcome.REFUSED) == [3]
    assert triage.positions(Outcome.DENIED) == []
    assert triage.examples[Outcome.REFUSED] == "400 index_closed_exception: closed (index h-1)"
    assert triage.refusals == {3: "400 index_closed_exception: closed (index h-1)"}
    assert triage.summary() == (
        "2 retry, e.g. 429 es_rejected_execution_exception: queue full;"
        " 1 refused, e.g. 400 index_closed_exception: closed (index h-1)"
    )
