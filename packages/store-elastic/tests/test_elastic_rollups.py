"""The elastic store's hourly rollups against what only Elasticsearch can do to them: generations of a
daily index, writers racing a sealer, a sealer killed midway. The rules every store keeps are in the
conformance suite."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from typing import Any

from elastic_testing import StoreOpener
from elasticsearch import Elasticsearch

from hitcount.core.config import Config
from hitcount.core.hit import Hit, now_ns
from hitcount.core.rollups import seal_line
from hitcount.core.windows import NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE
from hitcount.store_elastic.layout import Layout
from hitcount.store_elastic.rollups import EPOCH_SHIFT, bucket_entries
from hitcount.store_elastic.store import ElasticStore


def _total(store: ElasticStore, id: str, now: int) -> int | None:
    store.refresh()
    return store.counts(id, now).total


def test_a_bucket_is_versioned_by_its_epoch_above_its_count() -> None:
    [entry] = bucket_entries("p-rollups", "uuid-of-the-index-22ch", 3, [("a\u00e9", 7 * NS_PER_HOUR, 12)])
    action, document = entry.splitlines()
    assert f'"version":{3 << EPOCH_SHIFT | 12},"version_type":"external_gte"' in action
    assert document == '{"id":"a\\u00e9","@timestamp":"1970-01-01T07:00:00.000000000Z","count":12}'
    # The same id and hour in another generation of its daily index is another bucket.
    [other] = bucket_entries("p-rollups", "uuid-of-a-new-index-22", 3, [("a\u00e9", 7 * NS_PER_HOUR, 12)])
    assert other.split('"_id":')[1][:24] != entry.split('"_id":')[1][:24]


def test_the_rollups_index_keeps_the_line_and_sums_counts(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    now = now_ns()
    store = open_store()
    store.write([Hit("shape", now - 5 * NS_PER_DAY)])
    assert store.seal(seal_line(now)) == 1
    index = Layout(prefix).rollups_index
    properties = admin.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert properties["count"] == {"type": "long", "index": False}
    assert properties["sealed"] == {"type": "long", "index": False, "doc_values": False}
    line = admin.get(index=index, id="line")["_source"]
    assert line == {"sealed": seal_line(now), "sealing": seal_line(now), "epoch": 0}


def test_a_hit_arriving_for_a_day_retention_deleted_counts_beside_the_buckets_of_that_day(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    now = now_ns()
    day = (now - 6 * NS_PER_DAY) // NS_PER_DAY * NS_PER_DAY
    store = open_store()
    store.write([Hit("reborn", day + n * NS_PER_MINUTE) for n in range(30)])
    store.seal(seal_line(now))
    assert store.purge(now - 4 * NS_PER_DAY) == 1
    assert not admin.indices.exists(index=Layout(prefix).index_of(day))
    # A batch held back for days: its index is made again, a new generation, counted into buckets of its own.
    store.write([Hit("reborn", day + 3 * NS_PER_MINUTE + 1), Hit("reborn", day + 2 * NS_PER_HOUR)])
    assert _total(store, "reborn", now) == 32
    store.seal(seal_line(now + NS_PER_HOUR))
    assert store.rebuild(0) > 0  # counts what the new index holds, keeps the buckets of the deleted one
    assert _total(store, "reborn", now) == 32


def test_hits_written_while_their_hours_are_sealed_are_each_counted_once(open_store: StoreOpener) -> None:
    now = now_ns()
    start = now - 6 * NS_PER_DAY
    hits = [Hit(f"race{n % 20}", start + n * 3 * NS_PER_MINUTE) for n in range(1_200)]  # 2.5 days, 20 ids
    writer, sealer = open_store(), open_store()
    writer.write(hits[::2])
    failures: list[BaseException] = []

    def write_the_rest() -> None:
        try:
            for first in range(1, len(hits), 40):
                writer.write(hits[first : first + 40 : 2])
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=write_the_rest)
    thread.start()
    line = start // NS_PER_HOUR * NS_PER_HOUR
    while thread.is_alive() or line < seal_line(now):
        line = min(line + 6 * NS_PER_HOUR, seal_line(now))
        sealer.seal(line)
    thread.join()
    assert not failures
    sealer.purge(now - 3 * NS_PER_DAY - 2 * NS_PER_HOUR)  # every raw hit of the sealed hours is gone
    totals = [_total(sealer, f"race{n}", now) for n in range(20)]
    assert totals == [60] * 20


def _seal_hour_by_hour(environ: dict[str, str], line: int, ready: Any) -> None:
    """Seal one more hour again and again until killed."""
    store = ElasticStore.from_config(Config(environ))
    ready.set()
    while True:
        store.seal(line)
        line += NS_PER_HOUR


def _sealed(admin: Elasticsearch, prefix: str) -> int:
    return int(admin.get(index=Layout(prefix).rollups_index, id="line")["_source"]["sealed"])


def test_a_seal_killed_midway_leaves_every_total_exact(
    open_store: StoreOpener, admin: Elasticsearch, elastic_url: str, prefix: str
) -> None:
    now = now_ns()
    start = now - 6 * NS_PER_DAY
    # 300 ids, a hit every 10 minutes each over 6 to 3 days ago: many buckets an hour to write.
    hits = [Hit(f"id{n}", start + step * 10 * NS_PER_MINUTE + n) for step in range(430) for n in range(300)]
    store = open_store()
    for first in range(0, len(hits), 20_000):
        store.write(hits[first : first + 20_000])
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    line = start // NS_PER_HOUR * NS_PER_HOUR
    for delay in (0.5, 1.5, 3.0):
        environ = {"HITCOUNT_ELASTIC_URL": elastic_url, "HITCOUNT_ELASTIC_INDEX_PREFIX": prefix}
        sealer = context.Process(target=_seal_hour_by_hour, args=(environ, line, ready))
        sealer.start()
        assert ready.wait(60)
        time.sleep(delay)
        os.kill(sealer.pid or 0, signal.SIGKILL)
        sealer.join()
        ready.clear()
        line = max(line, _sealed(admin, prefix))
        assert [_total(store, f"id{n}", now) for n in (0, 149, 299)] == [430] * 3
    assert _sealed(admin, prefix) > start  # the killed sealers got somewhere
    store.seal(seal_line(now))
    store.purge(now - 3 * NS_PER_DAY - 2 * NS_PER_HOUR)
    assert [_total(store, f"id{n}", now) for n in (0, 149, 299)] == [430] * 3
