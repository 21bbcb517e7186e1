"""What Elasticsearch spends in CPU per indexed hit for candidate layouts of the elastic store's daily indices.

Indexing throughput on a shared machine says little (the client, other processes and
the disk all weigh in), so this script charges each layout what the Elasticsearch
process itself burns: the whole JVM's user + system CPU time from ``/proc/<pid>/stat``
(indexing threads, translog fsyncs, GC, merges), read before the first bulk request
of a variant and after the last one is answered. It therefore has to run on the same
machine as the node, and only that node's load should be on it.

Every variant indexes the same hits (over the last hour, 10,000 ids, one hit in ten on a
single hot id, in time order as the indexer sends them) into a fresh index created with
the store's own template body (:meth:`Layout.template`), changed in one respect: the
settings or mapping, the rule making each hit's ``_id``, or the hits per bulk request.
``store`` is what the store does today; the others are candidates or references (some
would break the product: ``auto-id`` is not idempotent, ``date`` loses nanoseconds).
Variants run interleaved, once per round, after a discarded JIT warm-up of each.

Per variant it prints the CPU per hit of each round and their median, the same plus the
refresh that follows the load (with a 30 s refresh interval the last in-memory buffer,
and its index sort, is written out only then), the wall rate, the segments left and the
median latency of a count of the hot id's hits in every window (a ``filters`` aggregation, as the
store counted before :mod:`hitcount.store_elastic.counting`) in that index.

Not a test: run it by hand against a node nothing else is using, e.g. the Elasticsearch 9
of ``scripts/services.py up elastic9``::

    python packages/store-elastic/bench/layout_cpu.py
    python packages/store-elastic/bench/layout_cpu.py --docs 50000 --variants store,time-id
"""

from __future__ import annotations

import argparse
import base64
import copy
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from json.encoder import encode_basestring_ascii
from typing import Any, cast

from elasticsearch import Elasticsearch

from hitcount.core import Hit, now_ns
from hitcount.core.windows import LONGEST, NS_PER_DAY, WINDOWS, Counts
from hitcount.store_elastic import bulk, query
from hitcount.store_elastic.layout import ID_FIELD, TIMESTAMP_FIELD, Layout, timestamp_text

IdRule = Callable[[Hit], "str | None"]
HOT_ID = "page-hot"
COUNT_SEARCHES = 50
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- hits and bodies


def window_counts(id: str, now: int) -> dict[str, Any]:
    """Search arguments counting ``id``'s hits in every window at ``now`` with one ``filters`` aggregation."""
    return {
        "size": 0,
        "request_cache": False,
        "query": {"bool": {"filter": [{"term": {ID_FIELD: id}}, query.within(LONGEST, now)]}},
        "aggregations": {"windows": {"filters": {"filters": [query.within(window, now) for window in WINDOWS]}}},
    }


def make_hits(count: int, ids: int) -> list[Hit]:
    """Hits over the last hour in time order, as an indexer sees them; a tenth of them for one hot id."""
    now = now_ns()
    names = [f"page-{number}" for number in range(ids)]
    return [
        Hit(HOT_ID if n % 10 == 0 else random.choice(names), now - (count - n) * 3_600_000_000_000 // count)
        for n in range(count)
    ]


def store_id(hit: Hit) -> str:
    """The store's ``_id``: base64url of a 16-byte digest of the uid and the id."""
    return bulk.document_id(hit.id, hit.uid)


def time_prefixed_id(hit: Hit) -> str:
    """base64url of the hit's microsecond of the UTC day (5 bytes, big-endian) + its uid: 28 characters.

    Elasticsearch stores a base64url ``_id`` as the bytes it decodes to, so these ids
    ascend with time within a daily index, as its own auto-generated ids do.
    """
    microsecond = (hit.timestamp % NS_PER_DAY) // 1000
    return base64.urlsafe_b64encode(microsecond.to_bytes(5, "big") + hit.uid).decode("ascii")


def no_id(hit: Hit) -> None:
    """No ``_id``: Elasticsearch generates one and skips the lookup (a redelivered hit would count twice)."""
    return None


def body(hits: Sequence[Hit], index: str, id_rule: IdRule) -> bytes:
    """The NDJSON bulk body of ``hits``, line for line what :func:`bulk.encode` makes, with ``id_rule``'s ids."""
    lines = []
    for hit in hits:
        document_id = id_rule(hit)
        target = f'"_index":"{index}"' + (f',"_id":"{document_id}"' if document_id is not None else "")
        document = (
            f'{{"{ID_FIELD}":{encode_basestring_ascii(hit.id)},"{TIMESTAMP_FIELD}":"{timestamp_text(hit.timestamp)}"}}'
        )
        lines.append(f'{{"create":{{{target}}}}}\n{document}\n')
    return "".join(lines).encode()


class _OneIndex(Layout):
    """A layout writing every day to the index named by its prefix, to compare bodies with the store's."""

    def index(self, day: int) -> str:
        return self.prefix


def check_body(hits: Sequence[Hit]) -> None:
    """Fail unless :func:`body` with the store's ids is exactly what the store would send."""
    ours = body(hits, "bench-check", store_id)
    stores = "".join(bulk.encode(hits, _OneIndex("bench-check")).entries).encode()
    if ours != stores:
        raise SystemExit("body() no longer matches bulk.encode(): update it before trusting the numbers")


# ---------------------------------------------------------------- variants


@dataclass
class Setup:
    """What a variant may change: the new index's settings and mappings, the id rule, the bulk size, the hits."""

    settings: dict[str, Any]
    mappings: dict[str, Any]
    id_rule: IdRule
    bulk: int
    docs: int

    @property
    def index_settings(self) -> dict[str, Any]:
        return cast("dict[str, Any]", self.settings["index"])


def store(setup: Setup) -> None:
    """The store today: _id from the uid, date_nanos, sorted by (id, @timestamp), _source kept, refresh 30 s."""


def no_sort(setup: Setup) -> None:
    del setup.index_settings["sort"]


def time_id(setup: Setup) -> None:
    setup.id_rule = time_prefixed_id


def time_id_no_sort(setup: Setup) -> None:
    time_id(setup)
    no_sort(setup)


def auto_id(setup: Setup) -> None:
    setup.id_rule = no_id


def date_millis(setup: Setup) -> None:
    setup.mappings["properties"][TIMESTAMP_FIELD]["type"] = "date"


def no_source(setup: Setup) -> None:
    setup.mappings["_source"] = {"enabled": False}


def best_compression(setup: Setup) -> None:
    setup.index_settings["codec"] = "best_compression"


def two_shards(setup: Setup) -> None:
    setup.index_settings["number_of_shards"] = 2


def refresh_1s(setup: Setup) -> None:
    setup.index_settings["refresh_interval"] = "1s"


def refresh_off(setup: Setup) -> None:
    setup.index_settings["refresh_interval"] = "-1"


def bulk_1000(setup: Setup) -> None:
    setup.bulk = 1000


def bulk_36(setup: Setup) -> None:
    """The old indexer's batches; fewer hits, or the 36-hit requests (each fsynced) take minutes."""
    setup.bulk = 36
    setup.docs = min(setup.docs, 20_000)


VARIANTS: dict[str, Callable[[Setup], None]] = {
    "store": store,
    "no-sort": no_sort,
    "time-id": time_id,
    "time-id-no-sort": time_id_no_sort,
    "auto-id": auto_id,
    "date": date_millis,
    "no-source": no_source,
    "best-compression": best_compression,
    "2-shards": two_shards,
    "refresh-1s": refresh_1s,
    "refresh-off": refresh_off,
    "bulk-1000": bulk_1000,
    "bulk-36": bulk_36,
}


# ---------------------------------------------------------------- measuring


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as stat:
        # Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Result:
    docs: int
    bulk: int
    cpu_per_doc: float  # µs of ES CPU per hit, indexing only
    cpu_with_refresh: float  # µs per hit, indexing and the refresh after it
    rate: float  # hits/s, wall clock, indexing only
    segments: int
    count_ms: float  # median latency of the hot id's count search


def measure(client: Elasticsearch, pid: int, hits: list[Hit], index: str, setup: Setup) -> Result:
    """Index ``setup.docs`` of ``hits`` into a fresh ``index`` shaped by ``setup``, time a count, delete it."""
    hits = hits[: setup.docs]
    client.indices.create(index=index, settings=setup.settings, mappings=setup.mappings)
    try:
        bodies = [
            body(hits[start : start + setup.bulk], index, setup.id_rule) for start in range(0, len(hits), setup.bulk)
        ]
        time.sleep(1)  # let the index creation's own work settle
        cpu_before, started = cpu_seconds(pid), time.perf_counter()
        for payload in bodies:
            # Pre-encoded bytes go through the NDJSON serializer as they are, as the store sends them.
            operations = cast("Sequence[Mapping[str, Any]]", [payload])
            response = client.bulk(operations=operations, filter_path="errors")
            if response["errors"]:
                raise SystemExit(f"{index}: a bulk request of the benchmark failed")
        cpu_indexed, elapsed = cpu_seconds(pid), time.perf_counter() - started
        client.indices.refresh(index=index)
        cpu_refreshed = cpu_seconds(pid)

        stored = client.count(index=index)["count"]
        if stored != len(hits):
            raise SystemExit(f"{index}: {stored} documents instead of {len(hits)}")
        segments = client.indices.stats(index=index, metric="segments")["_all"]["primaries"]["segments"]["count"]
        now = hits[-1].timestamp
        latencies = []
        for attempt in range(COUNT_SEARCHES + 5):
            started = time.perf_counter()
            response = client.search(index=index, **window_counts(HOT_ID, now))
            if attempt >= 5:  # the first few warm caches up
                latencies.append(time.perf_counter() - started)
        counts = Counts(
            HOT_ID, now, tuple(bucket["doc_count"] for bucket in response["aggregations"]["windows"]["buckets"])
        )
        expected = sum(1 for hit in hits if hit.id == HOT_ID)
        if counts.by_reference()["1 day ago"] != expected:
            raise SystemExit(f"{index}: counted {counts.by_reference()} hits of {HOT_ID}, not {expected} a day")
    finally:
        client.indices.delete(index=index)
    return Result(
        docs=len(hits),
        bulk=setup.bulk,
        cpu_per_doc=(cpu_indexed - cpu_before) / len(hits) * 1e6,
        cpu_with_refresh=(cpu_refreshed - cpu_before) / len(hits) * 1e6,
        rate=len(hits) / elapsed,
        segments=segments,
        count_ms=statistics.median(latencies) * 1000,
    )


def setup_of(variant: Callable[[Setup], None], docs: int, bulk_size: int) -> Setup:
    """The store's template body, as the store installs it, changed by ``variant``."""
    template = copy.deepcopy(Layout("bench").template()["template"])
    setup = Setup(template["settings"], template["mappings"], store_id, bulk_size, docs)
    variant(setup)
    return setup


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:19209", help="a node on this machine, used by nothing else")
    parser.add_argument("--docs", type=int, default=200_000, help="hits indexed per variant and round")
    parser.add_argument("--ids", type=int, default=10_000, help="distinct ids besides the hot one")
    parser.add_argument("--rounds", type=int, default=2, help="each variant runs once per round, interleaved")
    parser.add_argument("--warmup", type=int, default=50_000, help="hits each variant indexes first, discarded (JIT)")
    parser.add_argument("--bulk", type=int, default=10_000, help="hits per bulk request (what the indexer sends)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, among: %(default)s")
    arguments = parser.parse_args()
    names = arguments.variants.split(",")
    if unknown := [name for name in names if name not in VARIANTS]:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")

    client = Elasticsearch(arguments.url, request_timeout=600)
    [node] = client.nodes.info(node_id="_local", metric="process", filter_path="nodes.*.version,nodes.*.process.id")[
        "nodes"
    ].values()
    pid = node["process"]["id"]
    if not os.path.exists(f"/proc/{pid}/stat"):
        raise SystemExit(f"elasticsearch pid {pid} is not a process of this machine: run the script next to the node")
    hits = make_hits(arguments.docs, arguments.ids)
    check_body(hits[:1000])
    idle_before = cpu_seconds(pid)
    time.sleep(3)
    idle = (cpu_seconds(pid) - idle_before) / 3

    run = uuid.uuid4().hex[:8]
    for name in names:  # every variant's code paths (id lookups or not, codecs, ...) get compiled before measuring
        setup = setup_of(VARIANTS[name], min(arguments.docs, arguments.warmup), arguments.bulk)
        measure(client, pid, hits, f"bench-{run}-warmup-{name}", setup)
    results: dict[str, list[Result]] = {name: [] for name in names}
    for round_number in range(arguments.rounds):
        for name in names:
            setup = setup_of(VARIANTS[name], arguments.docs, arguments.bulk)
            results[name].append(measure(client, pid, hits, f"bench-{run}-{round_number}-{name}", setup))

    print(
        f"elasticsearch {node['version']} (pid {pid}, idle {idle * 1000:.0f} ms CPU/s), client"
        f" {metadata.version('elasticsearch')}: {arguments.docs:,} hits per variant, {arguments.bulk:,} per bulk,"
        f" {arguments.rounds} rounds after a warm-up of {min(arguments.docs, arguments.warmup):,} hits each"
    )
    print("ES CPU in µs per hit (whole JVM, utime+stime), indexing only and with the refresh after it; medians")
    header = f"{'variant':<18}{'hits':>8}{'bulk':>7}{'CPU/hit per round':>22}{'median':>8}{'vs store':>9}"
    print(header + f"{'+refresh':>9}{'hits/s':>9}{'segments':>9}{'count ms':>9}")
    reference = statistics.median(result.cpu_per_doc for result in results["store"]) if "store" in results else None
    for name, rounds in results.items():
        cpu = statistics.median(result.cpu_per_doc for result in rounds)
        relative = f"{(cpu / reference - 1) * 100:+.0f}%" if reference else "-"
        print(
            f"{name:<18}{rounds[0].docs:>8,}{rounds[0].bulk:>7,}"
            f"{' '.join(f'{result.cpu_per_doc:5.1f}' for result in rounds):>22}{cpu:>8.1f}{relative:>9}"
            f"{statistics.median(result.cpu_with_refresh for result in rounds):>9.1f}"
            f"{statistics.median(result.rate for result in rounds):>9,.0f}"
            f"{statistics.median(result.segments for result in rounds):>9.0f}"
            f"{statistics.median(result.count_ms for result in rounds):>9.1f}"
        )


if __name__ == "__main__":
    main()
