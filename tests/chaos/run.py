"""The chaos run: the production shape under load and a seeded schedule of overlapping faults; every hit checked.

    nox -s chaos                                     # make test: the single-node shape, 1.5 minutes of faults
    nox -s chaos -- --minutes 30 --shape both        # make chaos: 15 minutes on each shape
    nox -s chaos -- --seed 1234                      # replay a run's schedule

The API (2 workers) and two indexers run as real processes on a Redis and an Elasticsearch
(or a Redis Cluster and a 3-node Elasticsearch cluster) of the run's own
(:mod:`tests.chaos.servers`). ``hitcount bench`` sends single hits, each with a uid of its
own, resending each until it gets a 2xx, and journals every uid and whether it was
acknowledged. Meanwhile the faults of :mod:`tests.chaos.faults` hit every process. Then
everything is started again, the queue and the spool drain, and :mod:`tests.chaos.ledger`
classifies every hit against the store's documents and the API's count: lost, duplicated and
unexpected must be zero. The seed is printed first, so that a failure can be replayed.

The short run uses the single-node shape: it is the harsher one (a killed Elasticsearch or
Redis takes the whole store or queue down, where a cluster fails over), and the clusters'
five more JVM and Redis processes would not start, fail over and recover within make
test's few minutes on a loaded 2-core machine. The long run takes both shapes.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import sys
import time
import uuid
from collections import Counter

import pytest
from elasticsearch import Elasticsearch, helpers

from hitcount.api_flask.settings import ApiSettings
from hitcount.api_flask.spool import Spool
from hitcount.api_flask.tuning import Tuning
from hitcount.core import DATA_DIR, Config
from hitcount.core.testing.processes import wait_until
from hitcount.store_elastic.bulk import document_id
from hitcount.store_elastic.layout import Layout
from hitcount.store_elastic.settings import parse_urls
from tests.chaos.faults import INDEXERS, SPOOL_MAX_BYTES, Fault, Injector, Pipeline, schedule
from tests.chaos.ledger import Ledger, read_journal
from tests.chaos.servers import DIRECTORY, SHAPES, Servers, Shape
from tests.e2e.pipeline import Stack, load

# How long the client resends a hit before it gives up: longer than any outage of the schedule
# (a single Elasticsearch killed takes a minute or so to start again on a loaded machine).
RETRY_FOR = 300.0
# How long the queue and the spool may take to drain once the faults are over.
DRAIN = 300.0


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nox -s chaos --", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.5, help="minutes of faults in all (split between shapes)")
    parser.add_argument("--seed", type=int, default=None, help="the schedule's seed (default: a random one)")
    parser.add_argument("--shape", choices=[*SHAPES, "both"], default="single", help="which servers carry it")
    parser.add_argument("--rate", type=float, default=100.0, help="hits/s the client sends")
    return parser.parse_args(argv)


def run(shape: Shape, seed: int, seconds: float, rate: float) -> bool:
    """One shape's run; whether every hit was counted exactly once and every process behaved."""
    faults = schedule(seed, seconds)
    print(
        f"== chaos on the {shape.name} shape: seed {seed}, {seconds:.0f}s, {len(faults)} faults scheduled", flush=True
    )
    for fault in faults:
        print(f"   {fault.describe()}")
    directory = DIRECTORY / "runs" / f"{shape.name}-{seed}-{time.strftime('%Y%m%dT%H%M%S')}"
    directory.mkdir(parents=True)
    servers = Servers(shape)
    servers.up()
    try:
        stack = Stack(
            directory,
            {
                "HITCOUNT_QUEUE": "redis",
                "HITCOUNT_STORE": "elastic",
                "HITCOUNT_CACHE": "redis",
                "HITCOUNT_REDIS_URL": servers.url(shape.redis),
                "HITCOUNT_ELASTIC_URL": servers.url(shape.elastic),
                "HITCOUNT_WORKERS": "2",
                "HITCOUNT_SPOOL_MAX_BYTES": SPOOL_MAX_BYTES,
                **dict(shape.settings),
            },
        )
        try:
            exact = load_and_check(
                Pipeline(stack, servers, [stack.indexer, stack.start_indexer()]), faults, seconds, rate
            )
        finally:
            try:
                stack.stop()
            except pytest.fail.Exception as crashed:  # a process ended otherwise than a fault ended it, or crashed
                print(f"FAILED: {crashed}")
                exact = False
    finally:
        servers.down()
    if exact:
        shutil.rmtree(directory)
    else:
        print(f"logs in {directory}; replay with --seed {seed} --shape {shape.name} --minutes {seconds / 60:g}")
    return exact


def load_and_check(pipeline: Pipeline, faults: list[Fault], seconds: float, rate: float) -> bool:
    """Load the pipeline while the faults hit it, recover, drain, and classify every hit; print the summary."""
    stack = pipeline.stack
    id = f"chaos-{uuid.uuid4().hex[:12]}"
    journal = stack.directory / "journal"
    bench = load(stack, id, seconds, rate, "--timeout", "5s", "--retry-for", f"{RETRY_FOR}s", "--journal", str(journal))
    injector = Injector(pipeline, faults)
    started = time.monotonic()
    # The journal's times are epoch seconds: this one puts a lost hit's among the faults' times.
    print(f"   0.0s  faults start, at epoch {time.time():.3f}", flush=True)
    injector.run(started, seconds)
    print(f"{time.monotonic() - started:6.1f}s  faults over; recovering", flush=True)
    recover(pipeline)
    bench.wait(RETRY_FOR + 120)
    print(f"{time.monotonic() - started:6.1f}s  load over; draining", flush=True)
    drain(stack)
    letters, lettered_hits = replay_dead_letters(stack)
    if letters:
        drain(stack)
    ledger = count(stack, id, read_journal(journal))
    print(f"{time.monotonic() - started:6.1f}s  checked")
    print(f"faults injected {sum(injector.injected.values())}: {by_kind(injector.injected)}")
    if injector.skipped:
        print(f"faults skipped (their component busy to the end): {by_kind(injector.skipped)}")
    print(
        f"dead letters replayed {letters} ({lettered_hits} hits): set aside after HITCOUNT_INDEXER_MAX_ATTEMPTS"
        " deliveries, each ended by a fault, as an operator replays them"
    )
    print(ledger.summary())
    print("\n".join(line for line in bench.output().splitlines() if line.startswith(("retr", "error", "hits"))))
    for failure in injector.failed:
        print(f"FAILED fault {failure}")
    if not ledger.exact:
        print(f"FAILED: {ledger.problems()}")
    return ledger.exact and not injector.failed and ledger.acknowledged > 0


def by_kind(counter: Counter[str]) -> str:
    return ", ".join(f"{kind} {number}" for kind, number in sorted(counter.items()))


def recover(pipeline: Pipeline) -> None:
    """Every server, the API and both indexers running again (the faults restore what they broke; this makes sure)."""
    pipeline.servers.up()
    if not pipeline.stack.api.running():
        pipeline.restart_api()
    for slot in range(INDEXERS):
        if not pipeline.indexers[slot].running():
            pipeline.replace_indexer(slot)


def drain(stack: Stack) -> None:
    """Wait until the spool has forwarded everything and the indexers acknowledged every batch."""
    config = Config(stack.environ)
    spool = Spool.of(config.get(DATA_DIR), ApiSettings.from_config(config), Tuning())
    queue = stack.runtime.open_queue()
    try:
        wait_until(
            lambda: spool.backlog().batches == 0 and queue.backlog().batches == 0,
            "the spool and the queue to drain",
            DRAIN,
            0.5,
        )
    finally:
        spool.close()
        queue.close()


def replay_dead_letters(stack: Stack) -> tuple[int, int]:
    """Replay every dead letter onto the queue, as ``hitcount dead-letters --replay`` does; how many and their hits.

    The indexer sets a batch aside once HITCOUNT_INDEXER_MAX_ATTEMPTS deliveries of it ended without an
    acknowledgement (its indexers killed or hung, which is what the faults do): parked for an operator,
    not lost. The check counts them once replayed; the summary says how many there were.
    """
    queue = stack.runtime.open_queue()
    try:
        letters = queue.dead_letters()
        for letter in letters:
            assert queue.replay_dead_letter(letter.tag), f"dead letter {letter.tag} vanished"
        return len(letters), sum(letter.hits for letter in letters)
    finally:
        queue.close()


def count(stack: Stack, id: str, sent: dict[str, bool]) -> Ledger:
    """Classify the hits: the store's documents (their ``_id`` is made of the hit's uid) and the API's count."""
    store = stack.runtime.open_store()
    try:
        store.refresh()
    finally:
        store.close()
    uid_of = {document_id(id, uuid.UUID(uid).bytes): uid for uid in sent}
    client = Elasticsearch(list(parse_urls(stack.environ["HITCOUNT_ELASTIC_URL"])), request_timeout=60)
    try:
        # The hits' daily indices: the visitors index holds a document per visitor, of no hit.
        index = Layout(stack.environ["HITCOUNT_ELASTIC_INDEX_PREFIX"]).daily_pattern
        documents = [
            hit["_id"]
            for hit in helpers.scan(client, index=index, query={"query": {"match_all": {}}}, _source=False, size=5000)
        ]
    finally:
        client.close()
    stored = [uid_of.get(document, document) for document in documents]
    # The API may answer from its counts cache for the read max age (2 s): wait for it to agree.
    with contextlib.suppress(TimeoutError):  # the ledger says so
        wait_until(lambda: stack.counts(id)[0] == len(documents), "the API to count what the store holds", 60, 0.5)
    return Ledger.classify(sent, stored, stack.counts(id)[0])


def main(argv: list[str] | None = None) -> int:
    options = arguments(sys.argv[1:] if argv is None else argv)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
    shapes = list(SHAPES.values()) if options.shape == "both" else [SHAPES[options.shape]]
    seconds = 60 * options.minutes / len(shapes)
    print(
        f"chaos seed {seed}"
        f" (replay: nox -s chaos -- --seed {seed} --shape {options.shape} --minutes {options.minutes:g})"
    )
    results = {shape.name: run(shape, seed, seconds, options.rate) for shape in shapes}
    for name, exact in results.items():
        print(f"chaos seed {seed} on the {name} shape: {'every hit counted once' if exact else 'FAILED'}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
