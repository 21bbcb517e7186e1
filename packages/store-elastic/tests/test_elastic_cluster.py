"""The elastic store on a 3-node cluster one of whose nodes is killed: nothing stops, nothing is lost or doubled.

Runs against the cluster of ``scripts/services.py up elastic-cluster`` (``nox -s
store_elastic_cluster``): it kills a node with SIGKILL, as a crash or the OOM killer
would, and starts it again through ``scripts/services.py`` afterwards, so that the tests
after it find three nodes again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from elastic_testing import MIDNIGHT, StoreOpener
from elasticsearch import Elasticsearch

from hitcount.core.errors import StoreUnavailable
from hitcount.core.hit import Hit
from hitcount.core.testing.processes import wait_until
from hitcount.core.windows import NS_PER_SECOND, WINDOWS
from hitcount.store_elastic.layout import Layout
from hitcount.store_elastic.store import ElasticStore
from hitcount.store_elastic.testing import primary_holders

pytestmark = pytest.mark.elastic_cluster

SERVICES = Path(__file__).resolve().parents[3] / "scripts" / "services.py"
CLUSTER_NAME = "hitcount-elastic-cluster"  # the cluster scripts/services.py runs, which alone this test may kill
BATCH = 100
# A replica becomes the primary (and, when the master died, a new master is elected) within
# seconds: a write and a count begun after the kill must succeed within RECOVERY (a loaded
# machine's slack over those seconds, and still a failure for a store that never gets back);
# no batch may wait LONGEST_WAIT to be stored. Hits are written and counted AFTER_RECOVERY more.
RECOVERY = 60.0
AFTER_RECOVERY = 3.0
LONGEST_WAIT = 20.0


@pytest.fixture
def cluster(admin: Elasticsearch) -> Iterator[Elasticsearch]:
    """The 3-node cluster of scripts/services.py; restored to its 3 nodes afterwards."""
    health = admin.cluster.health()
    if health["cluster_name"] != CLUSTER_NAME or health["number_of_nodes"] < 3:
        pytest.fail(
            f"HITCOUNT_ELASTIC_URL must name the {CLUSTER_NAME} of `scripts/services.py up elastic-cluster`"
            f" with its 3 nodes, not {health['cluster_name']} with {health['number_of_nodes']}"
        )
    yield admin
    restarted = subprocess.run(
        [sys.executable, str(SERVICES), "up", "elastic-cluster"], capture_output=True, text=True, check=False
    )
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr


@dataclass
class Writer:
    """Writes batches of new hits as the indexer does: a batch is acknowledged once ``write`` returns."""

    store: ElasticStore
    id: str
    acknowledged: int = 0
    # (monotonic time the attempt began, whether it succeeded rather than raise StoreUnavailable)
    attempts: list[tuple[float, bool]] = field(default_factory=list)
    # The longest a batch waited between its first attempt and its acknowledgement.
    longest_wait: float = 0.0

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            hits = [Hit(self.id, MIDNIGHT + self.acknowledged + n) for n in range(BATCH)]
            first = time.monotonic()
            while True:
                began = time.monotonic()
                try:
                    self.store.write(hits)
                except StoreUnavailable:
                    self.attempts.append((began, False))
                    time.sleep(0.2)
                    continue
                self.attempts.append((began, True))
                break
            self.longest_wait = max(self.longest_wait, time.monotonic() - first)
            self.acknowledged += len(hits)


@dataclass
class Reader:
    """Counts the writer's id over and over; remembers when each count began and whether it succeeded."""

    store: ElasticStore
    id: str
    answers: list[tuple[float, bool]] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            began = time.monotonic()
            try:
                self.store.counts(self.id, MIDNIGHT + 60 * NS_PER_SECOND)
            except StoreUnavailable:
                self.answers.append((began, False))
            else:
                self.answers.append((began, True))
            time.sleep(0.05)


def succeeded_since(outcomes: list[tuple[float, bool]], moment: float) -> bool:
    """Whether a write or count begun after ``moment`` succeeded."""
    return any(ok for began, ok in list(outcomes) if began > moment)


def test_killing_the_primarys_node_while_writing_and_reading_loses_and_doubles_no_acknowledged_hit(
    open_store: StoreOpener, cluster: Elasticsearch, prefix: str
) -> None:
    writer, reader = Writer(open_store(), "survivor"), Reader(open_store(), "survivor")
    writer.store.write([Hit("warm-up", MIDNIGHT)])  # creates the day's index before the clock starts
    index = Layout(prefix).index_of(MIDNIGHT)
    health = cluster.cluster.health(index=index, wait_for_status="green", timeout="20s")
    assert health["status"] == "green", f"the replica of {index} was never assigned: {health}"
    [(name, pid)] = primary_holders(cluster, index)

    stop = threading.Event()
    threads = [threading.Thread(target=part.run, args=(stop,), daemon=True) for part in (writer, reader)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        before_kill = writer.acknowledged
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: succeeded_since(writer.attempts, killed), "writes to succeed again after the kill", RECOVERY)
        wait_until(lambda: succeeded_since(reader.answers, killed), "counts to succeed again after the kill", RECOVERY)
        time.sleep(AFTER_RECOVERY)
    finally:
        stop.set()
        for thread in threads:
            thread.join(LONGEST_WAIT)
    assert not any(thread.is_alive() for thread in threads), "a writer or reader hung on the dead node"
    assert cluster.cluster.health()["number_of_nodes"] == 2, f"{name} (pid {pid}) did not die"

    assert before_kill > 0
    assert writer.longest_wait < LONGEST_WAIT, f"a batch waited {writer.longest_wait:.1f}s to be stored"
    assert reader.answers[-1][1], "counting still failed at the end"

    # Counted on the two surviving nodes, before the dead one is back: every hit once.
    writer.store.refresh()
    counts = writer.store.counts("survivor", MIDNIGHT + 60 * NS_PER_SECOND)
    assert counts.values == (writer.acknowledged,) * len(WINDOWS)
