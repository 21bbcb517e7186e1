"""The conformance suites every Queue and HitStore backend runs against itself.

A backend's whole test is a subclass naming the backend as ``HITCOUNT_QUEUE`` or
``HITCOUNT_STORE`` would, and saying how a test takes its server away::

    from hitcount.core.testing import HitStoreConformance, Outage

    class TestMyStore(HitStoreConformance):
        backend = "mystore"

        @pytest.fixture
        def outage(self, my_server) -> Outage:  # a server of the test's own, to kill and to pause
            return Outage({"HITCOUNT_MYSTORE_URL": my_server.url}, stop=my_server.kill, hang=my_server.pause)

Each test gets a fresh environment: the ``HITCOUNT_*`` variables of the process (where
a server's URL comes from), the backend's name, a fresh ``HITCOUNT_DATA_DIR``, the
class's ``environment`` mapping and the ``isolation`` fixture's settings. Instances are
opened through the plugin registry, as ``hitcount`` opens them (so registration is
tested too), each a new connection to the *same* queue or store, as a second process
would; the suite closes them afterwards. A backend whose data outlives the test's
directory (a server) overrides ``isolation`` with a fixture giving the test a namespace
of its own (a key prefix, an index prefix) and deleting it afterwards.

The rules hold when the server fails too: with the server gone or hung (see
:class:`~hitcount.core.testing.outages.Outage`), every call raises the contract's error
(``QueueUnavailable``, ``StoreUnavailable``, ``CacheUnavailable``) within a bounded time,
never the client library's own, and ``health()`` says not ok and why. A backend without a
server to lose (one living in the process) skips those tests from its ``outage`` fixture.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import pytest

from hitcount.core.cache import CACHE_TTL, CountsCache
from hitcount.core.config import PREFIX
from hitcount.core.errors import CacheUnavailable, HitcountError, HitsRefused, QueueUnavailable, StoreUnavailable
from hitcount.core.health import Health
from hitcount.core.hit import Hit, new_uid, now_ns
from hitcount.core.hours import HOURS, Hours, first_hour
from hitcount.core.queue import VISIBILITY_TIMEOUT, Delivery, Queue
from hitcount.core.rollups import seal_line
from hitcount.core.runtime import Runtime
from hitcount.core.settings import CACHE, DATA_DIR, QUEUE, STORE
from hitcount.core.store import HitStore
from hitcount.core.testing.outages import Outage
from hitcount.core.testing.windows import expected_counts, one_age_per_window
from hitcount.core.visitors import SALT_BYTES, day_of
from hitcount.core.windows import LONGEST, NS_PER_DAY, NS_PER_HOUR, NS_PER_SECOND, WINDOWS, Counts, Window
from hitcount.core.wire import decode_batch, encode_batch

# How long any call may take while its server is gone or hung; the contract's callers
# (the API's request deadline, the indexer's visibility timeout) are sized on the backend's
# own timeouts, which an outage's settings make short, so this only catches a call that waits forever.
OUTAGE_CALL_BOUND = 60.0
# The two ways a server fails: it is gone (connections refused or reset), or it hangs.
FAILURES = ("gone", "hung")

# How many newer batches may be consumed before one that waits: the Queue contract promises
# no order, only a bound; a partitioned queue's is about its number of partitions, newest-first's none.
OVERTAKEN_AT_MOST = 100

# Ids that a careless backend would parse as query syntax or mangle.
TRICKY_IDS = ("*", '"', "\\", "id:1 OR 1", "a b", "ünïcödé", "日本語", "🙂", "x" * 256, "?q=1&r=2", "{}", "1")


class QueueFactory(Protocol):
    def __call__(self, visibility_timeout: float = 30.0) -> Queue: ...


class StoreFactory(Protocol):
    def __call__(self) -> HitStore: ...


class CacheFactory(Protocol):
    def __call__(self) -> CountsCache: ...


B = TypeVar("B", Queue, HitStore, CountsCache)


def _opening(open_backend: Callable[[], B], opened: list[Queue | HitStore | CountsCache]) -> Callable[[], B]:
    """``open_backend``, remembering what it opened in ``opened`` for the suite to close."""

    def make() -> B:
        backend = open_backend()
        opened.append(backend)
        return backend

    return make


class _Suite:
    """What both suites share: the backend's name, its environment, and a runtime per test."""

    backend: ClassVar[str]
    environment: ClassVar[Mapping[str, str]] = {}
    variable: ClassVar[str]

    @pytest.fixture
    def isolation(self) -> Mapping[str, str]:
        """Settings that give one test a namespace of its own; embedded backends need none."""
        return {}

    @pytest.fixture
    def runtime(self, tmp_path: Path, isolation: Mapping[str, str]) -> Runtime:
        """The runtime a ``hitcount`` process of this test would have."""
        if not getattr(self, "backend", None):
            raise TypeError(f"{type(self).__name__} must name its backend: backend = '...'")
        environ = {name: value for name, value in os.environ.items() if name.startswith(PREFIX)}
        environ |= {self.variable: self.backend, DATA_DIR.name: str(tmp_path / "data")}
        return Runtime.load({**environ, **self.environment, **isolation})

    @pytest.fixture
    def outage(self) -> Outage:
        """How this test takes the backend's server away; every backend with a server provides one."""
        pytest.fail(
            f"{type(self).__name__} must override the `outage` fixture, returning a hitcount.core.testing.Outage"
            " (a private server it kills and pauses, or a TcpProxy in front of a shared one),"
            " or skip in it if the backend has no server to lose"
        )

    @pytest.fixture(params=FAILURES)
    def failure(self, request: pytest.FixtureRequest) -> str:
        """Whether the server of an outage test is gone or hangs."""
        return str(request.param)

    @pytest.fixture
    def outage_runtime(self, runtime: Runtime, outage: Outage) -> Runtime:
        """The runtime of a process whose backend is on the outage's server."""
        return dataclasses.replace(runtime, config=runtime.config.with_overrides(outage.environment))

    @pytest.fixture
    def opened(self) -> Iterator[list[Queue | HitStore | CountsCache]]:
        """The instances a test opened, closed after it."""
        instances: list[Queue | HitStore | CountsCache] = []
        yield instances
        for instance in instances:
            instance.close()

    def test_the_backend_is_registered_under_its_name(self, runtime: Runtime) -> None:
        registry = runtime.registry
        registered: dict[str, Mapping[str, object]] = {
            QUEUE.name: registry.queues,
            STORE.name: registry.stores,
            CACHE.name: registry.caches,
        }
        assert self.backend in registered[self.variable], f"no plugin registers {self.variable}={self.backend}"


def _payload(number: int) -> bytes:
    return encode_batch([Hit(f"batch-{number}", now_ns())])


def _drain(queue: Queue, consumer: str, until: int, wait: float = 10.0) -> list[Delivery]:
    """Consume and acknowledge until ``until`` batches arrived or ``wait`` passed."""
    got: list[Delivery] = []
    deadline = time.monotonic() + wait
    while len(got) < until and time.monotonic() < deadline:
        batch = queue.consume(consumer, 100, 0.2)
        queue.ack(batch)
        got += batch
    return got


def _fail(outage: Outage, failure: str) -> None:
    """Take the server away, as ``failure`` says."""
    (outage.stop if failure == "gone" else outage.hang)()


def _bounded(call: Callable[[], Any], what: str) -> Any:
    """``call()``'s result or exception, failing the test if it takes longer than :data:`OUTAGE_CALL_BOUND`.

    The call runs in a thread, so that one waiting forever fails the test instead of hanging it.
    """
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as error:  # handed to the test's thread as it is
            outcome.append((False, error))

    thread = threading.Thread(target=run, name=f"outage-{what}", daemon=True)
    thread.start()
    thread.join(OUTAGE_CALL_BOUND)
    assert outcome, f"{what} was still waiting after {OUTAGE_CALL_BOUND:.0f} s with the server away"
    [(returned, value)] = outcome
    if not returned:
        raise value
    return value


def _check_call_during_outage(
    call: Callable[[], Any], name: str, outage: Outage, unavailable: type[HitcountError]
) -> None:
    """``call`` raises ``unavailable`` (or answers, when the outage lets ``name`` answer), and nothing else."""
    if name in outage.still_answers:
        with contextlib.suppress(unavailable):
            _bounded(call, name)
        return
    with pytest.raises(unavailable):
        _bounded(call, name)


def _check_health_during_outage(health: Callable[[], Health]) -> None:
    state = _bounded(health, "health()")
    assert not state.ok, f"health() says ok with the server away: {state.detail!r}"
    assert state.detail.strip(), "health() must say why it is not ok"


QUEUE_CALLS: dict[str, Callable[[Queue, Delivery], object]] = {
    "publish": lambda queue, delivery: queue.publish(_payload(3), 1),
    "consume": lambda queue, delivery: queue.consume("c1", 10, 0.2),
    "ack": lambda queue, delivery: queue.ack([delivery]),
    "dead_letter": lambda queue, delivery: queue.dead_letter(delivery, "refused"),
    "dead_letters": lambda queue, delivery: queue.dead_letters(),
    "replay_dead_letter": lambda queue, delivery: queue.replay_dead_letter(delivery.tag),
    "drop_dead_letter": lambda queue, delivery: queue.drop_dead_letter(delivery.tag),
    "backlog": lambda queue, delivery: queue.backlog(),
    "salt": lambda queue, delivery: queue.salt(day_of(now_ns())),
}
STORE_CALLS: dict[str, Callable[[HitStore], object]] = {
    "write": lambda store: store.write([Hit("outage", now_ns())]),
    "counts": lambda store: store.counts("outage", now_ns()),
    "purge": lambda store: store.purge(now_ns() - 10 * LONGEST.length),
}
CACHE_CALLS: dict[str, Callable[[CountsCache], object]] = {
    "get": lambda cache: cache.get("outage"),
    "put": lambda cache: cache.put(Counts("outage", now_ns(), (1,) * len(WINDOWS))),
}


class QueueConformance(_Suite):
    """The rules of :class:`hitcount.core.Queue`."""

    variable = QUEUE.name

    @pytest.fixture
    def make_queue(self, runtime: Runtime, opened: list[Queue | HitStore | CountsCache]) -> QueueFactory:
        """Opens the queue, with a visibility timeout of the test's choosing."""

        def make(visibility_timeout: float = 30.0) -> Queue:
            config = runtime.config.with_overrides({VISIBILITY_TIMEOUT.name: f"{visibility_timeout}s"})
            return _opening(dataclasses.replace(runtime, config=config).open_queue, opened)()

        return make

    def test_published_batch_is_consumed_with_its_payload_and_hit_count(self, make_queue: QueueFactory) -> None:
        queue = make_queue()
        payload = _payload(1)
        queue.publish(payload, 1)
        [delivery] = queue.consume("c1", 10, 5.0)
        assert delivery.payload == payload
        assert delivery.hits == 1
        assert delivery.attempts == 1

    def test_every_published_batch_comes_out_once_in_whatever_order(self, make_queue: QueueFactory) -> None:
        queue = make_queue()
        payloads = [_payload(number) for number in range(20)]
        for payload in payloads:
            queue.publish(payload, 1)
        assert Counter(delivery.payload for delivery in _drain(queue, "c1", 20)) == Counter(payloads)

    def test_a_waiting_batch_is_not_overtaken_without_bound_by_newer_ones(self, make_queue: QueueFactory) -> None:
        publisher, consumer = make_queue(), make_queue()
        waiting = _payload(-1)
        publisher.publish(waiting, 1)
        for number in range(OVERTAKEN_AT_MOST):
            publisher.publish(_payload(number), 1)
            deliveries = consumer.consume("c1", 1, 5.0)
            consumer.ack(deliveries)
            if waiting in [delivery.payload for delivery in deliveries]:
                return
        pytest.fail(f"the first batch published was still waiting after {OVERTAKEN_AT_MOST} newer ones were consumed")

    def test_consume_on_empty_queue_waits_then_returns_nothing(self, make_queue: QueueFactory) -> None:
        queue = make_queue()
        started = time.monotonic()
        assert queue.consume("c1", 10, 0.3) == []
        assert 0.25 <= time.monotonic() - started < 5.0

    def test_consume_returns_as_soon_as_a_batch_is_published(self, make_queue: QueueFactory) -> None:
        queue, publisher = make_queue(), make_queue()
        timer = threading.Timer(0.2, publisher.publish, args=(_payload(1), 1))
        timer.start()
        started = time.monotonic()
        assert len(queue.consume("c1", 10, 10.0)) == 1
        assert time.monotonic() - started < 5.0
        timer.join()

    def test_acknowledged_batch_is_never_delivered_again(self, make_queue: QueueFactory) -> None:
        queue = make_queue(visibility_timeout=0.2)
        queue.publish(_payload(1), 1)
        queue.ack(queue.consume("c1", 10, 5.0))
        time.sleep(0.5)
        assert queue.consume("c1", 10, 0.5) == []
        assert queue.backlog().batches == 0

    def test_unacknowledged_batch_is_not_redelivered_before_the_visibility_timeout(
        self, make_queue: QueueFactory
    ) -> None:
        queue, other = make_queue(visibility_timeout=30.0), make_queue(visibility_timeout=30.0)
        queue.publish(_payload(1), 1)
        assert len(queue.consume("c1", 10, 5.0)) == 1
        assert other.consume("c2", 10, 0.5) == []

    def test_unacknowledged_batch_is_delivered_again_to_another_consumer(self, make_queue: QueueFactory) -> None:
        dying, survivor = make_queue(visibility_timeout=0.5), make_queue(visibility_timeout=0.5)
        payload = _payload(1)
        dying.publish(payload, 1)
        [first] = dying.consume("dying", 10, 5.0)
        dying.close()  # it never acknowledges
        redelivered = _drain(survivor, "survivor", 1)
        assert [delivery.payload for delivery in redelivered] == [payload]
        assert redelivered[0].attempts >= 2
        assert first.payload == payload

    def test_unacknowledged_batch_is_delivered_again_to_the_same_consumer(self, make_queue: QueueFactory) -> None:
        queue = make_queue(visibility_timeout=0.5)
        queue.publish(_payload(1), 1)
        [first] = queue.consume("c1", 10, 5.0)
        [again] = _drain(queue, "c1", 1)
        assert again.payload == first.payload

    def test_concurrent_consumers_get_every_batch_exactly_once(self, make_queue: QueueFactory) -> None:
        publisher = make_queue()
        total = 300
        for number in range(total):
            publisher.publish(_payload(number), 1)
        received: list[bytes] = []
        lock = threading.Lock()

        def consume(name: str) -> None:
            queue = make_queue()
            idle_since = time.monotonic()
            while time.monotonic() - idle_since < 1.0:
                deliveries = queue.consume(name, 7, 0.1)
                if deliveries:
                    idle_since = time.monotonic()
                queue.ack(deliveries)
                with lock:
                    received.extend(delivery.payload for delivery in deliveries)

        threads = [threading.Thread(target=consume, args=(f"c{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        counts = Counter(received)
        assert len(counts) == total
        assert set(counts.values()) == {1}

    def test_concurrent_publishers_lose_nothing(self, make_queue: QueueFactory) -> None:
        def publish(worker: int) -> None:
            queue = make_queue()
            for number in range(50):
                queue.publish(_payload(worker * 1000 + number), 1)

        threads = [threading.Thread(target=publish, args=(worker,)) for worker in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len({delivery.payload for delivery in _drain(make_queue(), "c1", 200)}) == 200

    def test_batch_of_10000_hits_survives_the_trip(self, make_queue: QueueFactory) -> None:
        queue = make_queue()
        hits = [Hit(TRICKY_IDS[n % len(TRICKY_IDS)], now_ns() - n) for n in range(10_000)]
        queue.publish(encode_batch(hits), len(hits))
        [delivery] = queue.consume("c1", 1, 5.0)
        assert delivery.hits == 10_000
        assert decode_batch(delivery.payload) == hits

    def test_backlog_counts_unacknowledged_batches_and_hits(self, make_queue: QueueFactory) -> None:
        queue = make_queue()
        before = time.time()
        queue.publish(_payload(1), 3)
        queue.publish(_payload(2), 4)
        backlog = queue.backlog()
        assert (backlog.batches, backlog.hits) == (2, 7)
        assert backlog.oldest_published_at is not None
        assert before - 1 <= backlog.oldest_published_at <= time.time() + 1
        queue.ack(_drain(queue, "c1", 2))
        assert queue.backlog().batches == 0

    def test_dead_letter_is_kept_listed_and_replayable(self, make_queue: QueueFactory) -> None:
        queue = make_queue(visibility_timeout=0.2)
        queue.publish(b"\xff not protobuf", 5)
        [delivery] = queue.consume("c1", 10, 5.0)
        queue.dead_letter(delivery, "undecodable")
        time.sleep(0.4)
        assert queue.consume("c1", 10, 0.3) == []  # dead-lettering acknowledged it
        [letter] = queue.dead_letters()
        assert (letter.payload, letter.hits, letter.reason) == (b"\xff not protobuf", 5, "undecodable")
        assert queue.replay_dead_letter(letter.tag)
        assert queue.dead_letters() == []
        [replayed] = queue.consume("c1", 10, 5.0)
        assert (replayed.payload, replayed.hits) == (b"\xff not protobuf", 5)
        assert not queue.replay_dead_letter(letter.tag)

    def test_a_dropped_dead_letter_is_gone_for_good(self, make_queue: QueueFactory) -> None:
        queue = make_queue(visibility_timeout=0.2)
        queue.publish(b"garbage", 2)
        queue.publish(b"kept", 3)
        deliveries: list[Delivery] = []
        for _ in range(5):  # a partitioned queue may give one partition's batch at a time
            deliveries += queue.consume("c1", 10, 1.0)
            if len(deliveries) == 2:
                break
        for delivery in deliveries:
            queue.dead_letter(delivery, "undecodable")
        letters = {letter.payload: letter for letter in queue.dead_letters()}
        dropped, kept = letters[b"garbage"], letters[b"kept"]
        assert queue.drop_dead_letter(dropped.tag)
        assert queue.dead_letters() == [kept]
        assert not queue.drop_dead_letter(dropped.tag)
        assert not queue.replay_dead_letter(dropped.tag)
        time.sleep(0.4)
        assert queue.consume("c1", 10, 0.3) == []
        assert queue.backlog().batches == 0

    @pytest.mark.parametrize("tag", ["nope", "", "12345", "0:1-1", "-1"])
    def test_a_tag_the_queue_never_gave_names_no_dead_letter(self, make_queue: QueueFactory, tag: str) -> None:
        """Operators type tags: whatever the text, replaying or dropping what is not there is False, not an error."""
        queue = make_queue()
        queue.publish(b"kept", 3)
        [delivery] = queue.consume("c1", 10, 5.0)
        queue.dead_letter(delivery, "refused")
        assert not queue.replay_dead_letter(tag)
        assert not queue.drop_dead_letter(tag)
        assert [letter.payload for letter in queue.dead_letters()] == [b"kept"]

    def test_dead_letter_keeps_the_part_it_is_given_and_acknowledges_the_whole_batch(
        self, make_queue: QueueFactory
    ) -> None:
        queue = make_queue()
        queue.publish(_payload(1), 5)
        [delivery] = queue.consume("c1", 10, 5.0)
        queue.dead_letter(dataclasses.replace(delivery, payload=b"the refused hit", hits=1), "refused")
        [letter] = queue.dead_letters()
        assert (letter.payload, letter.hits, letter.reason) == (b"the refused hit", 1, "refused")
        backlog = queue.backlog()
        assert (backlog.batches, backlog.hits) == (0, 0)

    def test_health_is_ok_when_the_backend_is_reachable(self, make_queue: QueueFactory) -> None:
        assert make_queue().health().ok

    def test_attempts_grow_by_one_with_each_redelivery(self, make_queue: QueueFactory) -> None:
        queue = make_queue(visibility_timeout=0.3)
        queue.publish(_payload(1), 1)
        attempts: list[int] = []
        deadline = time.monotonic() + 30.0
        while len(attempts) < 3 and time.monotonic() < deadline:
            attempts += [delivery.attempts for delivery in queue.consume("c1", 10, 0.5)]  # never acknowledged
        assert attempts == [1, 2, 3]

    def test_the_salt_of_a_day_is_made_once_and_shared_by_every_instance(self, make_queue: QueueFactory) -> None:
        day = day_of(now_ns())
        queues = [make_queue() for _ in range(4)]
        salts: list[bytes | None] = []
        threads = [threading.Thread(target=lambda queue=queue: salts.append(queue.salt(day))) for queue in queues]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        if salts[0] is None:
            pytest.skip("this queue does not share visitor salts")
        assert len(set(salts)) == 1
        assert len(salts[0]) == SALT_BYTES
        assert make_queue().salt(day) == salts[0]
        assert make_queue().salt(day + 1) not in (None, salts[0])

    def test_a_salt_is_deleted_two_days_after_its_day_began(self, make_queue: QueueFactory) -> None:
        # The clock is forced by asking for the salts of the days to come, as the API will on those days.
        queue, today = make_queue(), day_of(now_ns())
        first = queue.salt(today)
        if first is None:
            pytest.skip("this queue does not share visitor salts")
        tomorrow = queue.salt(today + 1)
        assert queue.salt(today) == first  # kept through the next day
        queue.salt(today + 2)
        assert make_queue().salt(today + 1) == tomorrow
        assert make_queue().salt(today) != first  # gone: asking again makes a new one

    @pytest.fixture
    def outage_queue(
        self, outage_runtime: Runtime, opened: list[Queue | HitStore | CountsCache]
    ) -> tuple[Queue, Delivery]:
        """A queue on the outage's server holding a batch in hand (its delivery) and one waiting."""
        config = outage_runtime.config.with_overrides({VISIBILITY_TIMEOUT.name: "30s"})
        queue = _opening(dataclasses.replace(outage_runtime, config=config).open_queue, opened)()
        queue.publish(_payload(1), 1)
        queue.publish(_payload(2), 1)
        [delivery] = queue.consume("c1", 1, 5.0)
        return queue, delivery

    @pytest.mark.parametrize("call", QUEUE_CALLS)
    def test_every_call_raises_queue_unavailable_while_the_server_is_away(
        self, outage: Outage, failure: str, outage_queue: tuple[Queue, Delivery], call: str
    ) -> None:
        queue, delivery = outage_queue
        _fail(outage, failure)
        _check_call_during_outage(lambda: QUEUE_CALLS[call](queue, delivery), call, outage, QueueUnavailable)

    def test_health_is_not_ok_and_says_why_while_the_server_is_away(
        self, outage: Outage, failure: str, outage_queue: tuple[Queue, Delivery]
    ) -> None:
        queue, _ = outage_queue
        _fail(outage, failure)
        _check_health_during_outage(queue.health)


def _written(store: HitStore, hits: list[Hit]) -> HitStore:
    store.write(hits)
    store.refresh()
    return store


class HitStoreConformance(_Suite):
    """The rules of :class:`hitcount.core.HitStore`."""

    variable = STORE.name

    @pytest.fixture
    def make_store(self, runtime: Runtime, opened: list[Queue | HitStore | CountsCache]) -> StoreFactory:
        """Opens the store."""
        return _opening(runtime.open_store, opened)

    #: Whether the store counts distinct visitors (:attr:`Counts.visitors`); one that does not answers None.
    counts_visitors: ClassVar[bool] = True
    #: Whether the store keeps hourly rollups (:meth:`HitStore.seal`, :attr:`Counts.total`); one that does not
    #: answers the total of the hits it retains.
    keeps_rollups: ClassVar[bool] = True
    #: Whether the store ranks ids (:meth:`HitStore.top`); one that does not raises NotImplementedError.
    ranks_ids: ClassVar[bool] = True

    def test_unknown_id_counts_zero_everywhere(self, make_store: StoreFactory) -> None:
        now = now_ns()
        counts = make_store().counts("never-seen", now)
        assert (counts.id, counts.now, counts.values) == ("never-seen", now, (0,) * len(WINDOWS))
        assert counts.visitors == ((0,) * len(WINDOWS) if self.counts_visitors else None)

    def test_counts_are_cumulative_windows_ending_now(self, make_store: StoreFactory) -> None:
        now = now_ns()
        # A different number of hits in each window, plus some older than the longest.
        hits_by_age = {age: number for number, age in enumerate(one_age_per_window(), start=2)}
        hits_by_age[1.5 * LONGEST.length / NS_PER_SECOND] = 1
        hits = [
            Hit("page", now - int(age * NS_PER_SECOND)) for age, number in hits_by_age.items() for _ in range(number)
        ]
        store = _written(make_store(), hits)
        assert list(store.counts("page", now).values) == expected_counts(hits_by_age)

    @pytest.mark.parametrize("window", WINDOWS, ids=lambda window: window.reference)
    def test_window_includes_its_upper_edge_and_excludes_its_lower_edge(self, make_store: StoreFactory, window) -> None:  # type: ignore[no-untyped-def]
        now = now_ns()
        id = f"edge-{window.reference}"
        store = _written(
            make_store(),
            [
                Hit(id, now - window.length),  # exactly at the lower edge: outside
                Hit(id, now - window.length + 1),  # a nanosecond later: inside
                Hit(id, now),  # at now: inside
                Hit(id, now + 1),  # after now: outside
            ],
        )
        index = WINDOWS.index(window)
        assert store.counts(id, now).values[index] == 2

    def test_the_same_batch_written_twice_counts_once(self, make_store: StoreFactory) -> None:
        now = now_ns()
        hits = [Hit("twice", now - n * NS_PER_SECOND) for n in range(100)]
        store = _written(make_store(), hits)
        once = store.counts("twice", now)
        _written(make_store(), hits)
        assert store.counts("twice", now) == once
        assert once.values == (100,) * len(WINDOWS)

    def test_a_hit_repeated_inside_one_batch_counts_once(self, make_store: StoreFactory) -> None:
        now = now_ns()
        hit = Hit("dup", now - NS_PER_SECOND)
        store = _written(make_store(), [hit, hit, hit])
        assert store.counts("dup", now).values == (1,) * len(WINDOWS)

    def test_a_batch_overlapping_an_earlier_one_adds_only_the_new_hits(self, make_store: StoreFactory) -> None:
        now = now_ns()
        hits = [Hit("overlap", now - n * NS_PER_SECOND) for n in range(10)]
        store = _written(make_store(), hits[:6])
        _written(store, hits[4:])
        assert store.counts("overlap", now).values == (10,) * len(WINDOWS)

    def test_a_uid_reused_for_another_id_counts_for_each_id(self, make_store: StoreFactory) -> None:
        # A hit is its (id, uid): a client that gives one page view's uid to several ids
        # (or a careless one that reuses uids) must not lose hits to each other.
        now, uid = now_ns(), new_uid()
        store = _written(make_store(), [Hit("shared-a", now - 1, uid), Hit("shared-b", now - 2, uid)])
        _written(store, [Hit("shared-c", now - 3, uid), Hit("shared-a", now - 1, uid)])
        for id in ("shared-a", "shared-b", "shared-c"):
            assert store.counts(id, now).values == (1,) * len(WINDOWS), id

    def test_ids_match_exactly_whatever_their_characters(self, make_store: StoreFactory) -> None:
        now = now_ns()
        hits = [Hit(id, now - n) for position, id in enumerate(TRICKY_IDS) for n in range(position + 1)]
        hits += [Hit(id, now) for id in ("A", "a", "ab", "id", "OR")]
        store = _written(make_store(), hits)
        for position, id in enumerate(TRICKY_IDS):
            assert store.counts(id, now).values == (position + 1,) * len(WINDOWS), id
        for id in ("A", "a", "ab", "id", "OR"):
            assert store.counts(id, now).values == (1,) * len(WINDOWS), id

    def test_batch_of_10000_hits_is_counted_exactly(self, make_store: StoreFactory) -> None:
        now = now_ns()
        step = 4 * 24 * 3600 * NS_PER_SECOND // 10_000  # spread over four days
        hits = [Hit("bulk", now - n * step) for n in range(10_000)]
        store = _written(make_store(), hits)
        assert store.counts("bulk", now).values == Counts.of_timestamps("bulk", now, [h.timestamp for h in hits]).values

    def test_purge_removes_old_hits_and_keeps_every_counted_one(self, make_store: StoreFactory) -> None:
        now = now_ns()
        day = 24 * 3600 * NS_PER_SECOND
        recent = [Hit("kept", now - n * 3600 * NS_PER_SECOND) for n in range(0, 72, 5)]
        store = _written(make_store(), [*recent, Hit("kept", now - 6 * day), Hit("kept", now - 6 * day - 1)])
        before = store.counts("kept", now)
        store.seal(seal_line(now))  # which a store keeping rollups needs to delete those hours
        assert store.purge(now - 4 * day) >= 1
        store.refresh()
        if not self.keeps_rollups:  # the two hits purged leave its total, which counts the hits retained
            before = dataclasses.replace(before, total=len(recent))
        assert store.counts("kept", now) == before
        assert store.purge(now - 4 * day) == 0

    def _total(self, store: HitStore, id: str, now: int) -> int:
        total = store.counts(id, now).total
        assert total is not None
        if not self.keeps_rollups:
            pytest.skip("this store keeps no rollups: its total is the hits it retains")
        return total

    def test_without_rollups_the_total_counts_the_hits_retained(self, make_store: StoreFactory) -> None:
        if self.keeps_rollups:
            pytest.skip("its total outlives retention")
        now = now_ns()
        ages = [0, NS_PER_HOUR, 5 * NS_PER_DAY, 10 * NS_PER_DAY]
        store = _written(make_store(), [*(Hit("retained", now - age) for age in ages), Hit("retained", now + 1)])
        assert not store.keeps_totals
        assert store.counts("retained", now).total == len(ages)  # not the one after now
        assert store.purge(now - 4 * NS_PER_DAY) >= 1
        store.refresh()
        assert store.counts("retained", now).total == 2
        assert store.counts("never", now).total == 0

    def test_the_total_counts_every_hit_stored_up_to_now(self, make_store: StoreFactory) -> None:
        now = now_ns()
        ages = [0, 1, 59 * NS_PER_SECOND, 2 * NS_PER_HOUR, 4 * NS_PER_DAY, 10 * NS_PER_DAY, 400 * NS_PER_DAY]
        store = _written(make_store(), [*(Hit("ever", now - age) for age in ages), Hit("ever", now + 1)])
        assert self._total(store, "ever", now) == len(ages)  # not the one after now
        assert self._total(store, "ever", now + 1) == len(ages) + 1
        assert self._total(store, "never", now) == 0

    def test_sealing_and_retention_leave_every_count_and_the_total_as_they_were(self, make_store: StoreFactory) -> None:
        now = now_ns()
        step = 7 * NS_PER_SECOND * 60  # every 7 minutes for 12 days
        store = _written(make_store(), [Hit("kept", now - n * step) for n in range(12 * NS_PER_DAY // step)])
        _written(store, [Hit("other", now - 5 * NS_PER_DAY)])
        before = store.counts("kept", now)
        self._total(store, "kept", now)
        assert store.seal(seal_line(now)) > 0
        assert store.seal(seal_line(now)) == 0  # nothing new to seal
        assert store.purge(now - 4 * NS_PER_DAY) >= 1
        store.refresh()
        assert store.counts("kept", now) == before
        assert self._total(store, "other", now) == 1
        # An hour later the next hour is sealed, and the purge of its hits changes no count either.
        later = now + NS_PER_HOUR
        before = store.counts("kept", later)
        assert store.seal(seal_line(later)) > 0
        store.purge(later - 4 * NS_PER_DAY)
        store.refresh()
        assert store.counts("kept", later) == before

    def test_retention_deletes_no_hit_of_an_hour_not_sealed(self, make_store: StoreFactory) -> None:
        now = now_ns()
        store = _written(make_store(), [Hit("unsealed", now - 10 * NS_PER_DAY)])
        assert self._total(store, "unsealed", now) == 1
        store.purge(now - 4 * NS_PER_DAY)
        store.refresh()
        assert self._total(store, "unsealed", now) == 1
        store.seal(seal_line(now))
        store.purge(now - 4 * NS_PER_DAY)
        store.refresh()
        assert self._total(store, "unsealed", now) == 1

    def test_a_hit_stored_after_its_hour_was_sealed_counts_once_in_the_total(self, make_store: StoreFactory) -> None:
        now = now_ns()
        store = _written(make_store(), [Hit("late", now - 5 * NS_PER_DAY)])
        assert self._total(store, "late", now) == 1
        store.seal(seal_line(now))
        late = Hit("late", now - 5 * NS_PER_DAY - 1)  # a dead letter replayed days later
        _written(store, [late])
        _written(store, [late, Hit("late", now - 6 * NS_PER_DAY)])  # its copy, and one more
        assert self._total(store, "late", now) == 3
        store.purge(now - 4 * NS_PER_DAY)
        store.refresh()
        assert self._total(store, "late", now) == 3
        store.seal(seal_line(now + NS_PER_HOUR))  # sealing again writes the later hours only
        assert self._total(store, "late", now) == 3

    def test_a_rebuild_counts_the_sealed_hours_still_held_again_and_keeps_those_retention_cut(
        self, make_store: StoreFactory
    ) -> None:
        now = now_ns()
        hits = [Hit("again", now - 4 * NS_PER_DAY - n * 97 * NS_PER_SECOND) for n in range(3_000)]
        store = _written(make_store(), hits)
        assert self._total(store, "again", now) == len(hits)
        store.seal(seal_line(now))
        assert store.rebuild(0) > 0
        assert self._total(store, "again", now) == len(hits)
        store.purge(now - 5 * NS_PER_DAY)  # hits of part of the sealed hours
        store.refresh()
        assert store.rebuild(0) > 0
        assert store.rebuild(now - 4 * NS_PER_DAY - 2 * NS_PER_HOUR) > 0
        assert self._total(store, "again", now) == len(hits)
        assert store.rebuild(now) == 0  # no sealed hour from now on

    def test_stores_sealing_the_same_hours_at_once_count_each_hit_once(self, make_store: StoreFactory) -> None:
        now = now_ns()
        hits = [Hit("both", now - 4 * NS_PER_DAY - n * 31 * NS_PER_SECOND) for n in range(2_000)]
        store = _written(make_store(), hits)
        assert self._total(store, "both", now) == len(hits)
        sealers = [make_store() for _ in range(4)]
        threads = [threading.Thread(target=sealer.seal, args=(seal_line(now),)) for sealer in sealers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        store.purge(now - 4 * NS_PER_DAY + NS_PER_HOUR)
        store.refresh()
        assert self._total(store, "both", now) == len(hits)
        assert store.counts("both", now).values == (0,) * len(WINDOWS)

    def _top(self, store: HitStore, window: Window | None, now: int, limit: int, prefix: str) -> list[tuple[str, int]]:
        if not self.ranks_ids:
            assert not store.ranks_ids
            with pytest.raises(NotImplementedError):
                store.top(window, now, limit, prefix)
            pytest.skip("this store does not rank ids")
        assert store.ranks_ids
        return store.top(window, now, limit, prefix)

    def test_top_ranks_ids_by_their_count_in_each_window_most_first_then_by_id(self, make_store: StoreFactory) -> None:
        now, prefix = now_ns(), f"top-{new_uid().hex()}/"
        ages = one_age_per_window()  # longest window first
        # Each id has a different number of hits at each age, and two ids tie everywhere.
        plan = {
            "a": (1, 0, 3, 0, 2),
            "b": (0, 4, 0, 1, 0),
            "c": (2, 2, 2, 2, 2),
            "d": (2, 2, 2, 2, 2),
            "e": (5, 0, 0, 0, 0),
        }
        hits = [
            Hit(prefix + id, now - int(age * NS_PER_SECOND))
            for id, numbers in plan.items()
            for age, number in zip(ages, numbers, strict=True)
            for _ in range(number)
        ]
        hits.append(Hit(prefix + "later", now + 1))  # after now: in no window
        store = _written(make_store(), hits)
        for window in WINDOWS:
            counts = {prefix + id: store.counts(prefix + id, now).in_window(window) or 0 for id in plan}
            expected = sorted(((id, n) for id, n in counts.items() if n), key=lambda pair: (-pair[1], pair[0]))
            assert self._top(store, window, now, 100, prefix) == expected, window.reference
            assert self._top(store, window, now, 2, prefix) == expected[:2], window.reference

    def test_top_keeps_the_ids_starting_with_the_prefix(self, make_store: StoreFactory) -> None:
        now, prefix = now_ns(), f"top-{new_uid().hex()}"
        ids = {"/blog/a": 3, "/blog/b": 1, "/blogroll": 5, "/docs/a": 9, "/BLOG/c": 7, "/blog/ünï": 2}
        store = _written(
            make_store(), [Hit(prefix + id, now - n - 1) for id, number in ids.items() for n in range(number)]
        )
        blog = [(prefix + "/blog/a", 3), (prefix + "/blog/ünï", 2), (prefix + "/blog/b", 1)]
        assert self._top(store, LONGEST, now, 10, prefix + "/blog/") == blog
        assert [id for id, _ in self._top(store, LONGEST, now, 10, prefix + "/blog")] == [
            prefix + id for id in ("/blogroll", "/blog/a", "/blog/ünï", "/blog/b")
        ]
        assert len(self._top(store, LONGEST, now, 100, prefix)) == len(ids)
        assert self._top(store, LONGEST, now, 10, prefix + "/nothing") == []

    def test_top_by_total_ranks_sealed_hours_and_the_hits_since(self, make_store: StoreFactory) -> None:
        now, prefix = now_ns(), f"top-{new_uid().hex()}/"
        old = [Hit(prefix + "old", now - 10 * NS_PER_DAY - n * NS_PER_HOUR) for n in range(6)]
        recent = [Hit(prefix + "recent", now - n * NS_PER_HOUR) for n in range(4)]
        both = [Hit(prefix + "both", now - days * NS_PER_DAY) for days in (0, 1, 5, 9, 20)]
        store = _written(make_store(), [*old, *recent, *both])
        if not self.keeps_rollups:
            expected = [(prefix + "old", 6), (prefix + "both", 5), (prefix + "recent", 4)]
            assert self._top(store, None, now, 10, prefix) == expected
            return
        store.seal(seal_line(now))
        store.purge(now - 4 * NS_PER_DAY)
        _written(store, [Hit(prefix + "recent", now - 1)])
        expected = [(prefix + "old", 6), (prefix + "both", 5), (prefix + "recent", 5)]
        assert self._top(store, None, now, 10, prefix) == expected
        assert self._top(store, LONGEST, now, 10, prefix) == [(prefix + "recent", 5), (prefix + "both", 2)]

    #: Whether the store counts hits per hour (:meth:`HitStore.hours`); one that does not raises NotImplementedError.
    charts_hours: ClassVar[bool] = True

    def test_hours_count_the_hits_of_each_utc_hour_of_the_last_three_days_up_to_now(
        self, make_store: StoreFactory
    ) -> None:
        now, id = now_ns(), f"hours-{new_uid().hex()}"
        first = first_hour(now)
        ages = [
            0,
            1,
            59 * NS_PER_SECOND,
            now - first,
            now - first + 1,
            5 * NS_PER_HOUR,
            3 * NS_PER_DAY,
            40 * NS_PER_HOUR,
        ]
        hits = [Hit(id, now - age) for age in ages for _ in range(1 + age % 3)]
        store = _written(make_store(), [*hits, Hit(id, now + 1), Hit(id, first + NS_PER_HOUR - 1)])
        if not self.charts_hours:
            assert not store.charts_hours
            with pytest.raises(NotImplementedError):
                store.hours(id, now)
            pytest.skip("this store does not count hits per hour")
        assert store.charts_hours
        timestamps = [hit.timestamp for hit in hits] + [first + NS_PER_HOUR - 1]
        expected = Hours.of_timestamps(id, now, timestamps)
        assert store.hours(id, now) == expected
        assert expected.counts[0] == 1 + (now - first) % 3 + 1  # the hits at its edges are in it
        assert sum(expected.counts) == len(timestamps) - (1 + (now - first + 1) % 3) - (1 + 3 * NS_PER_DAY % 3)
        assert store.hours("never", now) == Hours("never", now, (0,) * HOURS)

    def test_health_is_ok_when_the_backend_is_reachable(self, make_store: StoreFactory) -> None:
        assert make_store().health().ok

    def _visitors(self, store: HitStore, id: str, now: int) -> tuple[int, ...]:
        counts = store.counts(id, now)
        if not self.counts_visitors:
            assert counts.visitors is None
            pytest.skip("this store does not count visitors")
        assert counts.visitors is not None
        return counts.visitors

    def test_visitors_are_the_distinct_visitor_keys_of_each_window(self, make_store: StoreFactory) -> None:
        now = now_ns()
        # In each window, a new visitor and one from the window before; keys at both ends of their range.
        keys = [-(2**63), 2**63 - 1, 0, -1, 1, 7]
        hits = [
            Hit("people", now - int(age * NS_PER_SECOND) - n, visitor=keys[position + n])
            for position, age in enumerate(one_age_per_window())
            for n in range(2)
        ]
        hits += [Hit("people", now - n - 1) for n in range(3)]  # without a key: hits, not visitors
        store = _written(make_store(), hits)
        expected = Counts.of_hits("people", now, [(hit.timestamp, hit.visitor) for hit in hits])
        assert store.counts("people", now).values == expected.values
        assert self._visitors(store, "people", now) == expected.visitors == (6, 5, 4, 3, 2)

    def test_a_redelivered_hit_counts_its_visitor_once_and_its_hit_once(self, make_store: StoreFactory) -> None:
        now = now_ns()
        hits = [Hit("again", now - n * NS_PER_SECOND, visitor=n % 3) for n in range(30)]
        store = _written(make_store(), hits)
        _written(make_store(), [*hits[10:], hits[0], hits[0]])
        assert store.counts("again", now).values == (30,) * len(WINDOWS)
        assert self._visitors(store, "again", now) == (3,) * len(WINDOWS)

    def test_visitors_of_ids_are_kept_apart(self, make_store: StoreFactory) -> None:
        now = now_ns()
        store = _written(make_store(), [Hit(id, now - n, visitor=n) for id, n in (("va", 1), ("vb", 2), ("vb", 3))])
        assert self._visitors(store, "va", now) == (1,) * len(WINDOWS)
        assert self._visitors(store, "vb", now) == (2,) * len(WINDOWS)

    def test_10000_visitors_are_counted_exactly(self, make_store: StoreFactory) -> None:
        now = now_ns()
        step = 3 * 24 * 3600 * NS_PER_SECOND // 20_000  # over three days, every visitor twice
        hits = [Hit("crowd", now - n * step - 1, visitor=(n * 2_654_435_761) % 10_000) for n in range(20_000)]
        store = _written(make_store(), hits)
        expected = Counts.of_hits("crowd", now, [(hit.timestamp, hit.visitor) for hit in hits]).visitors
        assert self._visitors(store, "crowd", now) == expected

    @pytest.fixture
    def refuse(self) -> Callable[[HitStore, Hit], None]:
        """``refuse(store, hit)`` makes the store refuse that hit for good from now on (and maybe others of its
        day, never those of a day later), as its own backend can: an Elasticsearch index closed. A store that
        never refuses a hit for good (every failure of its passes) leaves this out and the rule is skipped."""
        pytest.skip(f"the {self.backend} store refuses no hit for good")

    def test_a_write_with_hits_refused_for_good_raises_hits_refused_naming_them_and_stores_the_others(
        self, make_store: StoreFactory, refuse: Callable[[HitStore, Hit], None]
    ) -> None:
        now = now_ns()
        store = make_store()
        doomed = Hit("refused", now - 24 * 3600 * NS_PER_SECOND)  # the day before: kept apart from the others
        refuse(store, doomed)
        with pytest.raises(HitsRefused) as refusal:
            store.write([Hit("kept", now), doomed, Hit("kept", now - 1), doomed])
        # By position in the write, each with the store's reason, so that the indexer sets aside those alone.
        assert sorted(refusal.value.refused) == [1, 3]
        assert all(refusal.value.refused.values())
        store.refresh()
        assert store.counts("kept", now).values == (2,) * len(WINDOWS)

    @pytest.fixture
    def outage_store(self, outage_runtime: Runtime, opened: list[Queue | HitStore | CountsCache]) -> HitStore:
        """A store on the outage's server, which has counted a hit."""
        store = _opening(outage_runtime.open_store, opened)()
        _written(store, [Hit("outage", now_ns())])
        assert store.counts("outage", now_ns()).values[-1] == 1
        return store

    @pytest.mark.parametrize("call", STORE_CALLS)
    def test_every_call_raises_store_unavailable_while_the_server_is_away(
        self, outage: Outage, failure: str, outage_store: HitStore, call: str
    ) -> None:
        _fail(outage, failure)
        _check_call_during_outage(lambda: STORE_CALLS[call](outage_store), call, outage, StoreUnavailable)

    def test_health_is_not_ok_and_says_why_while_the_server_is_away(
        self, outage: Outage, failure: str, outage_store: HitStore
    ) -> None:
        _fail(outage, failure)
        _check_health_during_outage(outage_store.health)


class CountsCacheConformance(_Suite):
    """The rules of :class:`hitcount.core.CountsCache`."""

    variable = CACHE.name

    @pytest.fixture
    def make_cache(self, runtime: Runtime, opened: list[Queue | HitStore | CountsCache]) -> CacheFactory:
        """Opens the cache."""
        return _opening(runtime.open_cache, opened)

    def test_an_id_never_put_is_a_miss(self, make_cache: CacheFactory) -> None:
        assert make_cache().get("never-put") is None

    def test_counts_put_by_one_instance_are_read_by_another(self, make_cache: CacheFactory) -> None:
        counts = Counts("page", now_ns(), tuple(range(len(WINDOWS), 0, -1)))
        make_cache().put(counts)
        assert make_cache().get("page") == counts

    def test_the_last_put_wins(self, make_cache: CacheFactory) -> None:
        cache = make_cache()
        first = Counts("page", now_ns(), (2,) * len(WINDOWS))
        cache.put(first)
        cache.put(second := Counts("page", first.now + 1, (3,) * len(WINDOWS)))
        assert cache.get("page") == second

    def test_ids_are_kept_apart_whatever_their_characters(self, make_cache: CacheFactory) -> None:
        cache, now = make_cache(), now_ns()
        for position, id in enumerate(TRICKY_IDS):
            cache.put(Counts(id, now, (position,) * len(WINDOWS)))
        for position, id in enumerate(TRICKY_IDS):
            assert cache.get(id) == Counts(id, now, (position,) * len(WINDOWS)), id

    def test_counts_older_than_the_ttl_are_not_served(self, runtime: Runtime, make_cache: CacheFactory) -> None:
        cache, ttl = make_cache(), CACHE_TTL
        cache.put(Counts("old", now_ns() - int((ttl + 1) * NS_PER_SECOND), (1,) * len(WINDOWS)))
        cache.put(Counts("young", now_ns() - int((ttl - 60) * NS_PER_SECOND), (1,) * len(WINDOWS)))
        assert cache.get("old") is None
        assert cache.get("young") is not None

    def test_health_is_ok_when_the_backend_is_reachable(self, make_cache: CacheFactory) -> None:
        assert make_cache().health().ok

    @pytest.fixture
    def outage_cache(self, outage_runtime: Runtime, opened: list[Queue | HitStore | CountsCache]) -> CountsCache:
        """A cache on the outage's server, holding counts."""
        cache = _opening(outage_runtime.open_cache, opened)()
        cache.put(Counts("outage", now_ns(), (1,) * len(WINDOWS)))
        assert cache.get("outage") is not None
        return cache

    @pytest.mark.parametrize("call", CACHE_CALLS)
    def test_every_call_raises_cache_unavailable_while_the_server_is_away(
        self, outage: Outage, failure: str, outage_cache: CountsCache, call: str
    ) -> None:
        _fail(outage, failure)
        _check_call_during_outage(lambda: CACHE_CALLS[call](outage_cache), call, outage, CacheUnavailable)

    def test_health_is_not_ok_and_says_why_while_the_server_is_away(
        self, outage: Outage, failure: str, outage_cache: CountsCache
    ) -> None:
        _fail(outage, failure)
        _check_health_during_outage(outage_cache.health)
