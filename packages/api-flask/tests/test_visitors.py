"""Track gives each hit a visitor key: the day's salt with the client's address and agent, or with the hit's visitor."""

from __future__ import annotations

from typing import Any

import pytest
from api_testing import AppFactory, queued_hits
from flask import Flask
from prometheus_client import REGISTRY

from hitcount.api_flask.state import api_state
from hitcount.core import QueueUnavailable
from hitcount.core.backends.memory import MemoryQueue
from hitcount.core.hit import now_ns
from hitcount.core.visitors import VisitorHash, day_of

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
)


def track(app: Flask, body: Any, address: str = "203.0.113.7", agent: str = FIREFOX, **headers: str) -> int:
    client = app.test_client()
    answer = client.post(
        "/analytics" if isinstance(body, dict) else "/analytics/batch",
        json=body,
        headers={"User-Agent": agent, **headers},
        environ_base={"REMOTE_ADDR": address},
    )
    return answer.status_code


def without_visitor() -> float:
    return REGISTRY.get_sample_value("hitcount_api_hits_without_visitor_total") or 0.0


def todays(app: Flask) -> VisitorHash:
    """The keys of today, from the salt the app's queue holds."""
    salt = api_state(app).backends.queue.get().salt(day_of(now_ns()))
    assert salt is not None
    return VisitorHash(salt)


def test_hits_of_one_address_and_agent_share_a_key_and_others_do_not(app: Flask) -> None:
    for _ in range(3):
        assert track(app, {"id": "page"}) == 204
    assert track(app, {"id": "page"}, agent=SAFARI) == 204
    assert track(app, {"id": "page"}, address="198.51.100.1") == 204
    keys = [hit.visitor for hit in queued_hits(app)]
    assert keys[0] == keys[1] == keys[2] == todays(app).client("203.0.113.7", FIREFOX)
    assert len(set(keys)) == 3
    assert None not in keys


def test_a_hit_naming_its_visitor_is_keyed_by_it_whatever_its_client(app: Flask) -> None:
    assert track(app, [{"id": "a", "visitor": "session-1"}, {"id": "b"}]) == 204
    assert track(app, {"id": "c", "visitor": "session-1"}, address="198.51.100.1", agent=SAFARI) == 204
    a, b, c = queued_hits(app)
    keys = todays(app)
    assert a.visitor == c.visitor == keys.named("session-1")
    assert b.visitor == keys.client("203.0.113.7", FIREFOX)


def test_the_forwarded_address_is_the_clients_behind_a_trusted_proxy(make_app: AppFactory) -> None:
    app = make_app(HITCOUNT_TRUSTED_PROXIES="10.0.0.0/8")
    assert track(app, {"id": "p"}, address="10.0.0.2", X_Forwarded_For="192.0.2.9") == 204
    assert track(app, {"id": "p"}, address="10.0.0.3", X_Forwarded_For="192.0.2.9") == 204
    first, second = queued_hits(app)
    assert first.visitor == second.visitor == todays(app).client("192.0.2.9", FIREFOX)


@pytest.mark.parametrize(
    ("visitor", "error"),
    [(7, "visitor must be a string"), ("", "visitor must be 1 to 128 characters"), ("x" * 129, "not 129")],
)
def test_a_visitor_that_is_not_a_short_string_is_refused(app: Flask, visitor: object, error: str) -> None:
    answer = app.test_client().post("/analytics", json={"id": "page", "visitor": visitor})
    assert answer.status_code == 400
    assert error in answer.get_json()["message"]


def test_a_visitor_of_128_characters_is_taken(app: Flask) -> None:
    assert track(app, {"id": "page", "visitor": "é" * 128}) == 204
    assert queued_hits(app)[0].visitor == todays(app).named("é" * 128)


def test_with_count_visitors_off_no_salt_is_made_and_hits_carry_no_key(make_app: AppFactory) -> None:
    app = make_app(HITCOUNT_COUNT_VISITORS="off")
    before = without_visitor()
    assert track(app, {"id": "page"}) == 204
    assert [hit.visitor for hit in queued_hits(app)] == [None]
    assert api_state(app).backends.queue.get()._broker.salts == {}  # type: ignore[attr-defined]
    assert without_visitor() == before


class SaltlessQueue(MemoryQueue):
    """A queue whose backend cannot give a salt now (while publishing works)."""

    def salt(self, day: int) -> bytes | None:
        raise QueueUnavailable("salt unavailable")


def test_without_a_salt_hits_are_taken_without_a_key_and_counted_as_such(make_app: AppFactory) -> None:
    app = make_app(queues={"saltless": SaltlessQueue}, HITCOUNT_QUEUE="saltless")
    before = without_visitor()
    assert track(app, [{"id": "a"}, {"id": "b", "visitor": "s"}]) == 204
    assert track(app, {"id": "c"}) == 204  # within the retry interval: not asked again, not refused either
    assert [hit.visitor for hit in queued_hits(app)] == [None, None, None]
    assert without_visitor() == before + 3


def test_the_salt_is_asked_once_a_day_by_a_worker(make_app: AppFactory) -> None:
    asked: list[int] = []

    class CountingSalts(MemoryQueue):
        def salt(self, day: int) -> bytes | None:
            asked.append(day)
            return super().salt(day)

    app = make_app(queues={"counting": CountingSalts}, HITCOUNT_QUEUE="counting")
    for _ in range(5):
        assert track(app, {"id": "page"}) == 204
    assert asked == [day_of(now_ns())]
