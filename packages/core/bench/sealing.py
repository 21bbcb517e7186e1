"""What sealing costs a store, against what writing the same hits cost it: the issue's "sealing ≤ 5 % of
the indexer's and the store's CPU".

``--hits`` hits of ``--ids`` ids (the id of rank r about 1/r of them) at ``--rate`` hits a
second, ending four days ago (hours a seal may close), so that each minute and hour holds what
it would at that rate (what sealing reads grows with the ids and minutes, not with the hits
within one), written with the store's own bulk writes in
batches of 10,000, as the indexer sends them; then one ``seal`` of every hour up to the seal
line, as the indexer's housekeeping does once an hour (here all those hours at once). The CPU
charged is this process's (the store's client: all of sqlite's work) plus, on Elasticsearch,
the node's (``/proc/<pid>/stat`` of the local node). Sealing is done once per hour of hits
whatever the rate, so at a steady rate its share is seal CPU per hit over write CPU per hit.

The store is the one ``HITCOUNT_STORE`` names (:func:`totals.opened_store`). Not a test: run it
by hand::

    .venv/bin/python packages/core/bench/sealing.py
    set -a; . var/services.env; set +a
    HITCOUNT_STORE=elastic .venv/bin/python packages/core/bench/sealing.py
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request
from collections.abc import Callable

from totals import opened_store

from hitcount.core import Hit, HitStore, now_ns
from hitcount.core.rollups import seal_line
from hitcount.core.windows import NS_PER_DAY, NS_PER_SECOND

BATCH = 10_000


def node_seconds() -> Callable[[], float]:
    """The CPU seconds so far of the local Elasticsearch node of ``HITCOUNT_ELASTIC_URL``, or of nothing."""
    if os.environ.get("HITCOUNT_STORE") != "elastic":
        return lambda: 0.0
    url = os.environ["HITCOUNT_ELASTIC_URL"].split(",")[0]
    with urllib.request.urlopen(f"{url}/_nodes/_local/process?filter_path=nodes.*.process.id", timeout=10) as answer:
        [node] = json.load(answer)["nodes"].values()
    stat_path = f"/proc/{node['process']['id']}/stat"

    def seconds() -> float:
        with open(stat_path) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hits", type=int, default=2_000_000)
    parser.add_argument("--ids", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=10_000, help="hits a second")
    arguments = parser.parse_args()

    now = now_ns()
    end = now - 4 * NS_PER_DAY
    weights = [1 / rank for rank in range(1, arguments.ids + 1)]
    scale = arguments.hits / sum(weights)
    ids = [f"id-{rank}" for rank, weight in enumerate(weights) for _ in range(max(1, round(weight * scale)))]
    step = NS_PER_SECOND // arguments.rate
    # Interleaved over the hours, as traffic comes: the ids in a fixed shuffle by their index.
    order = sorted(range(len(ids)), key=lambda n: (n * 2_654_435_761) % len(ids))
    hits = [Hit(ids[n], end - (len(order) - position) * step) for position, n in enumerate(order)]
    node = node_seconds()

    def cpu() -> float:
        return time.process_time() + node()

    with opened_store() as store:
        began, elapsed = cpu(), time.perf_counter()
        write(store, hits)
        written, writing = cpu() - began, time.perf_counter() - elapsed
        store.refresh()
        began, elapsed = cpu(), time.perf_counter()
        buckets = store.seal(seal_line(now))
        sealed, sealing = cpu() - began, time.perf_counter() - elapsed
    seconds = len(hits) / arguments.rate
    print(f"{len(hits):,} hits of {arguments.ids:,} ids in {seconds:,.0f} s; sealed {buckets:,} hourly counts")
    print(f"{'':<8}{'CPU s':>8}{'µs/hit':>8}{'elapsed s':>11}")
    for name, seconds, wall in (("write", written, writing), ("seal", sealed, sealing)):
        print(f"{name:<8}{seconds:>8.2f}{seconds / len(hits) * 1e6:>8.2f}{wall:>11.2f}")
    print(f"sealing costs {sealed / written:.1%} of what writing the same hits cost")


def write(store: HitStore, hits: list[Hit]) -> None:
    for first in range(0, len(hits), BATCH):
        store.write(hits[first : first + BATCH])


if __name__ == "__main__":
    main()
