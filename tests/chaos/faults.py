"""The faults of the chaos run, and the seeded schedule that overlaps them.

Each fault hits one component (the API, one of the two indexers, Redis, Elasticsearch);
faults of different components overlap freely, those of one component wait for each other
(two Redis masters or two Elasticsearch nodes down at once would be an outage no
configuration survives, not a fault). A schedule is drawn from its seed alone, so that the
same seed injects the same faults in the same order at the same offsets; the threads that
run them interleave as the machine's load has it.

The spool's disk full: the API's spool is capped by HITCOUNT_SPOOL_MAX_BYTES, set tiny for the
run (:data:`SPOOL_MAX_BYTES`), and the ``spool-full`` fault hangs Redis long enough for the spool
to reach it, so that Track answers 503 and the client resends. A size-limited filesystem would
need root and a loop device; the cap is the same code path (the spool refuses a batch) on
every machine.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import signal
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from hitcount.core.testing.processes import Child, wait_until
from hitcount.indexer.indexer import KILL_BEFORE_ACK
from tests.chaos.servers import Servers
from tests.e2e.pipeline import Stack

# Bytes of batches the API's spool holds before Track answers 503, a few hundred hits (see the module's docstring).
SPOOL_MAX_BYTES = "16KiB"
# The average time between the starts of two faults, and the longest a fault lasts (a process
# paused, or down before it is started again).
MEAN_GAP = 3.0
LONGEST_HOLD = 8.0
# How long the spool-full fault hangs Redis: the spool fills in a second or two at the run's rate.
SPOOL_FULL_HOLD = 8.0
INDEXERS = 2


@dataclass(frozen=True)
class Fault:
    """One fault of the schedule: ``kind`` at ``at`` seconds into it, lasting ``hold`` seconds,
    hitting the ``pick``-th candidate (modulo their number when it starts)."""

    at: float
    kind: str
    hold: float
    pick: int

    def describe(self) -> str:
        return f"{self.at:6.1f}s {self.kind} (#{self.pick}, {self.hold:.1f}s)"


@dataclass
class Pipeline:
    """What the faults act on: the API and indexers (a Stack), the indexers' slots, the servers."""

    stack: Stack
    servers: Servers
    indexers: list[Child] = field(default_factory=list)
    restarts: int = 0

    def api_workers(self) -> list[int]:
        return self.stack.api.children()

    def replace_indexer(self, slot: int) -> None:
        """Start a new indexer in ``slot`` (its old one killed), forgetting the killed one."""
        dead = self.indexers[slot]
        if dead in self.stack.indexers:
            self.stack.indexers.remove(dead)  # declared killed: stop() still checks how it ended
        self.indexers[slot] = self.stack.start_indexer()

    def restart_api(self) -> None:
        """Start the API again once the killed master's workers are gone (they hold its port)."""
        self.restarts += 1
        self.stack.restart_api(f"api-{self.restarts}")


@contextlib.contextmanager
def paused(pid: int) -> Iterator[None]:
    """``pid`` stopped (SIGSTOP) for the block, then continued (SIGCONT), unless it died meanwhile."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def pause(pid: int, hold: float) -> None:
    with paused(pid):
        time.sleep(hold)


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by its parent) is dead too.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def node_pid(pipeline: Pipeline, nodes: str, pick: int) -> int | None:
    candidates = pipeline.servers.redis_nodes if nodes == "redis" else pipeline.servers.elastic_nodes
    return candidates[pick % len(candidates)].pid()


# ------------------------------------------------------------------ the faults, by kind


def kill_api_worker(pipeline: Pipeline, fault: Fault) -> None:
    """kill -9 a worker; gunicorn's master starts another."""
    workers = pipeline.api_workers()
    if workers:
        doomed = workers[fault.pick % len(workers)]
        pipeline.stack.worker_killed()
        kill(doomed)
        # Until reaped, the killed worker is still a child (a zombie): count the others.
        wait_until(
            lambda: len([pid for pid in pipeline.api_workers() if pid != doomed and alive(pid)]) == len(workers),
            "the API master to replace a killed worker",
            60,
        )


def pause_api_worker(pipeline: Pipeline, fault: Fault) -> None:
    workers = pipeline.api_workers()
    if workers:
        pause(workers[fault.pick % len(workers)], fault.hold)


def kill_api_master(pipeline: Pipeline, fault: Fault) -> None:
    """kill -9 the master; its workers notice and exit; down for ``hold``, then a new API on the same spool."""
    workers = pipeline.api_workers()
    pipeline.stack.kill(pipeline.stack.api)
    started = time.monotonic()
    wait_until(lambda: not any(alive(pid) for pid in workers), "the killed API master's workers to exit", 60, 0.2)
    time.sleep(max(0.0, fault.hold - (time.monotonic() - started)))
    pipeline.restart_api()


def pause_api_master(pipeline: Pipeline, fault: Fault) -> None:
    pause(pipeline.stack.api.pid, fault.hold)


def kill_indexer(pipeline: Pipeline, fault: Fault) -> None:
    slot = fault.pick % INDEXERS
    pipeline.stack.kill(pipeline.indexers[slot])
    time.sleep(fault.hold)
    pipeline.replace_indexer(slot)


def pause_indexer(pipeline: Pipeline, fault: Fault) -> None:
    pause(pipeline.indexers[fault.pick % INDEXERS].pid, fault.hold)


def indexer_killed_before_ack(pipeline: Pipeline, fault: Fault) -> None:
    """A third indexer that kills itself after its first store write, before acknowledging it."""
    doomed = pipeline.stack.start_indexer({KILL_BEFORE_ACK: "1"})
    pipeline.stack.killed(doomed)
    # It dies once it has written something; the store may be down meanwhile, and then the wait kills it.
    with contextlib.suppress(TimeoutError):
        doomed.wait(60)
    pipeline.stack.indexers.remove(doomed)


def kill_server(nodes: str, pipeline: Pipeline, fault: Fault) -> None:
    """kill -9 a node of ``nodes`` ("redis" or "elastic"): on a cluster, the others take over; on a
    single node, that backend is down. Started again after ``hold``."""
    pid = node_pid(pipeline, nodes, fault.pick)
    if pid is not None:
        kill(pid)
        time.sleep(fault.hold)
    pipeline.servers.up(getattr(pipeline.servers.shape, nodes))


def pause_server(nodes: str, pipeline: Pipeline, fault: Fault) -> None:
    """SIGSTOP a node of ``nodes`` for ``hold``."""
    pid = node_pid(pipeline, nodes, fault.pick)
    if pid is not None:
        pause(pid, fault.hold)


def spool_full(pipeline: Pipeline, fault: Fault) -> None:
    """Every Redis node hung long enough for the API's spool to fill up."""
    nodes = pipeline.servers.services.catalog[pipeline.servers.shape.redis].nodes
    with contextlib.ExitStack() as hung:
        for pid in [pid for node in nodes if (pid := node.pid()) is not None]:
            hung.enter_context(paused(pid))
        time.sleep(SPOOL_FULL_HOLD)


def redis_memory_full(pipeline: Pipeline, fault: Fault) -> None:
    """Every Redis node's maxmemory set to what it uses now (writes refused with OOM), then lifted."""
    nodes = pipeline.servers.services.catalog[pipeline.servers.shape.redis].nodes
    clients = [redis.Redis.from_url(node.url, socket_timeout=5) for node in nodes]
    try:
        for client in clients:
            with contextlib.suppress(redis.RedisError):  # down or hung by another fault: full anyway
                client.config_set("maxmemory", client.info("memory")["used_memory"])
        time.sleep(fault.hold)
    finally:
        for client in clients:
            with contextlib.suppress(redis.RedisError):  # killed since: it starts again without the limit
                client.config_set("maxmemory", 0)
            client.close()


Action = Callable[[Pipeline, Fault], None]
# Each kind: what it does and the component it hits (faults of one component never overlap).
KINDS: dict[str, tuple[Action, str]] = {
    "kill-api-worker": (kill_api_worker, "api"),
    "pause-api-worker": (pause_api_worker, "api"),
    "kill-api-master": (kill_api_master, "api"),
    "pause-api-master": (pause_api_master, "api"),
    "kill-indexer": (kill_indexer, "indexer"),
    "pause-indexer": (pause_indexer, "indexer"),
    "indexer-killed-before-ack": (indexer_killed_before_ack, "indexer-before-ack"),
    "kill-redis": (functools.partial(kill_server, "redis"), "redis"),
    "pause-redis": (functools.partial(pause_server, "redis"), "redis"),
    "spool-full": (spool_full, "redis"),
    "redis-memory-full": (redis_memory_full, "redis"),
    "kill-elastic": (functools.partial(kill_server, "elastic"), "elastic"),
    "pause-elastic": (functools.partial(pause_server, "elastic"), "elastic"),
}


def schedule(seed: int, seconds: float) -> list[Fault]:
    """The faults of a run of ``seconds``, drawn from ``seed`` alone."""
    rng = random.Random(seed)
    faults = []
    at = rng.expovariate(1 / MEAN_GAP)
    while at < seconds:
        faults.append(
            Fault(round(at, 1), rng.choice(sorted(KINDS)), round(rng.uniform(1, LONGEST_HOLD), 1), rng.randrange(6))
        )
        at += rng.expovariate(1 / MEAN_GAP)
    return faults


def component(fault: Fault) -> str:
    """The lock a fault holds: indexers are two components, one per slot."""
    name = KINDS[fault.kind][1]
    return f"{name}-{fault.pick % INDEXERS}" if name == "indexer" else name


class Injector:
    """Runs a schedule against a pipeline: each fault in a thread of its own, at its offset."""

    def __init__(self, pipeline: Pipeline, faults: list[Fault]) -> None:
        self.pipeline = pipeline
        self.faults = faults
        self.locks = {component(fault): threading.Lock() for fault in faults}
        self.injected: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.failed: list[str] = []
        self._threads: list[threading.Thread] = []

    def run(self, started: float, seconds: float) -> None:
        """Start each fault at its offset from ``started``; return once every fault has ended."""
        for fault in self.faults:
            time.sleep(max(0.0, started + fault.at - time.monotonic()))
            thread = threading.Thread(target=self._one, args=(fault, started, seconds), name=fault.kind, daemon=True)
            thread.start()
            self._threads.append(thread)
        for thread in self._threads:
            thread.join()

    def _one(self, fault: Fault, started: float, seconds: float) -> None:
        lock = self.locks[component(fault)]
        if not lock.acquire(timeout=max(0.0, started + seconds - time.monotonic())):
            self.skipped[fault.kind] += 1  # its component was under another fault until the schedule's end
            return
        try:
            print(f"{time.monotonic() - started:6.1f}s  {fault.kind} #{fault.pick} for {fault.hold:.1f}s", flush=True)
            KINDS[fault.kind][0](self.pipeline, fault)
            self.injected[fault.kind] += 1
        except Exception:
            self.failed.append(f"{fault.describe()}:\n{traceback.format_exc()}")
        finally:
            lock.release()
