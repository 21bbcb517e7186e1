"""What explicit document ids and index sorting cost Elasticsearch, and how fast the elastic store writes.

The store gives every hit an ``_id`` derived from its uid so that a redelivered copy
conflicts instead of being counted twice. Elasticsearch must then look each id up
before indexing, which auto-generated ids skip. This script indexes the same hits,
on the index shape the store really uses (its template), with ids:

- ``auto``: no ``_id``, Elasticsearch generates one (not idempotent; the baseline);
- ``uid``: the store's ``_id``, base64url of the 16 random uid bytes;
- ``time-uid``: base64url of the hit's millisecond of the day (4 bytes) + uid, ids that
  sort by time within a daily index, as Elasticsearch's own do;

each with and without the template's index sorting (id, timestamp), and reports the
indexing rate and the latency of the store's count search for the busiest id. Then it
times the store's body encoder alone and ``ElasticStore.write`` end to end.
Not a test: run it by hand, e.g.::

    python packages/store-elastic/bench/bulk_ids.py --url http://127.0.0.1:19209 --docs 200000
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from importlib import metadata
from json.encoder import encode_basestring_ascii

from elasticsearch import Elasticsearch

from hitcount.core import Config, Hit, now_ns
from hitcount.store_elastic import bulk, query
from hitcount.store_elastic.layout import NS_PER_DAY, Layout, timestamp_text
from hitcount.store_elastic.store import ElasticStore

IdRule = Callable[[Hit], "str | None"]
HOT_ID = "page-hot"


def _time_uid(hit: Hit) -> str:
    millisecond_of_day = (hit.timestamp % NS_PER_DAY) // 1_000_000
    return base64.urlsafe_b64encode(millisecond_of_day.to_bytes(4, "big") + hit.uid).decode().rstrip("=")


ID_RULES: dict[str, IdRule] = {
    "auto": lambda hit: None,
    "uid": lambda hit: bulk.document_id(hit.uid),
    "time-uid": _time_uid,
}


def make_hits(count: int, ids: int) -> list[Hit]:
    """Hits over the last hour in time order, as an indexer sees them; a tenth of them for one hot id."""
    now = now_ns()
    names = [f"page-{number}" for number in range(ids)]
    return [
        Hit(HOT_ID if n % 10 == 0 else random.choice(names), now - (count - n) * 3_600_000_000_000 // count)
        for n in range(count)
    ]


def body(hits: Sequence[Hit], index: str, id_rule: IdRule) -> bytes:
    lines = []
    for hit in hits:
        document_id = id_rule(hit)
        target = f'"_index":"{index}"' + (f',"_id":"{document_id}"' if document_id else "")
        document = f'{{"id":{encode_basestring_ascii(hit.id)},"@timestamp":"{timestamp_text(hit.timestamp)}"}}'
        lines.append(f'{{"create":{{{target}}}}}\n{document}\n')
    return "".join(lines).encode()


def measure(
    client: Elasticsearch, hits: list[Hit], index: str, id_rule: IdRule, *, batch: int, sort: bool, refresh: float
) -> tuple[float, float]:
    """Index ``hits`` into a fresh ``index`` shaped like a daily index: docs/s, then ms per count of HOT_ID."""
    template = Layout(index, replicas=0, refresh_interval=refresh).template()["template"]
    if not sort:
        del template["settings"]["index"]["sort"]
    client.indices.create(index=index, settings=template["settings"], mappings=template["mappings"])
    bodies = [body(hits[start : start + batch], index, id_rule) for start in range(0, len(hits), batch)]
    started = time.perf_counter()
    for payload in bodies:
        response = client.bulk(operations=[payload], filter_path="errors")  # type: ignore[list-item]
        assert not response["errors"], "bench documents must all be created"
    rate = len(hits) / (time.perf_counter() - started)
    client.indices.refresh(index=index)
    assert client.count(index=index)["count"] == len(hits)
    now = hits[-1].timestamp
    latencies = []
    for _ in range(50):
        started = time.perf_counter()
        client.search(index=index, **query.search_arguments(HOT_ID, now))
        latencies.append(time.perf_counter() - started)
    client.indices.delete(index=index)
    return rate, statistics.median(latencies) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:19209")
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000, help="hits per bulk request")
    parser.add_argument("--ids", type=int, default=10_000, help="distinct ids besides the hot one")
    parser.add_argument("--rounds", type=int, default=2, help="each variant runs once per round, interleaved")
    parser.add_argument(
        "--refresh-interval",
        type=float,
        default=30.0,
        help="seconds; a short one sends more id lookups to Lucene segments instead of the in-memory version map",
    )
    parser.add_argument("--warmup", type=int, default=100_000, help="docs indexed and discarded first (JIT)")
    arguments = parser.parse_args()

    client = Elasticsearch(arguments.url, request_timeout=300)
    [node] = client.nodes.info(node_id="_local", filter_path="nodes.*.version")["nodes"].values()
    hits = make_hits(arguments.docs, arguments.ids)
    run = uuid.uuid4().hex[:8]
    warmup = hits[: arguments.warmup]
    measure(client, warmup, f"bench-{run}-warmup", ID_RULES["uid"], batch=arguments.batch, sort=True, refresh=30)
    variants = [(name, sort) for name in ID_RULES for sort in (True, False)]
    results: dict[tuple[str, bool], list[tuple[float, float]]] = {variant: [] for variant in variants}
    for round_number in range(arguments.rounds):
        for name, sort in variants:
            index = f"bench-{run}-{round_number}-{name}-{'sorted' if sort else 'unsorted'}"
            rule = ID_RULES[name]
            results[name, sort].append(
                measure(client, hits, index, rule, batch=arguments.batch, sort=sort, refresh=arguments.refresh_interval)
            )

    print(
        f"elasticsearch {node['version']}, client {metadata.version('elasticsearch')}: {arguments.docs} docs,"
        f" {arguments.batch} per bulk, refresh every {arguments.refresh_interval:g}s, {arguments.rounds} rounds"
    )
    print(f"  {'ids':<9}{'index sort':<12}{'docs/s per round':<28}count of {len(hits) // 10} hits (median ms)")
    for (name, sort), values in results.items():
        rates = "".join(f"{rate:>10,.0f}" for rate, _ in values)
        reads = "".join(f"{latency:>8.1f}" for _, latency in values)
        print(f"  {name:<9}{'yes' if sort else 'no':<12}{rates:<28}{reads}")

    layout = Layout("bench-encode")
    started = time.perf_counter()
    for start in range(0, len(hits), arguments.batch):
        "".join(bulk.encode(hits[start : start + arguments.batch], layout)).encode()
    print(f"  bulk.encode alone:  {len(hits) / (time.perf_counter() - started):>10,.0f} hits/s")

    prefix = f"bench-store-{run}"
    store = ElasticStore(Config({"HITCOUNT_ELASTIC_URL": arguments.url, "HITCOUNT_ELASTIC_INDEX_PREFIX": prefix}))
    started = time.perf_counter()
    for start in range(0, len(hits), arguments.batch):
        store.write(hits[start : start + arguments.batch])
    print(f"  ElasticStore.write: {len(hits) / (time.perf_counter() - started):>10,.0f} hits/s")
    store.close()
    for entry in client.indices.resolve_index(name=f"{prefix}-*")["indices"]:
        client.indices.delete(index=entry["name"])
    client.indices.delete_index_template(name=prefix)


if __name__ == "__main__":
    main()
