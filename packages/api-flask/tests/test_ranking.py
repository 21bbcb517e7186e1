"""GET /analytics?window=&limit=&prefix=: the ids with the most hits, under the read rules of counts."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest
from api_testing import AppFactory
from flask import Flask
from flask.testing import FlaskClient

from hitcount.api_flask.app import TUNING
from hitcount.api_flask.state import api_state
from hitcount.core import Health, Hit, HitStore, StoreUnavailable, Window, now_ns
from hitcount.core.backends.memory import MemoryStore
from hitcount.core.windows import NS_PER_DAY, NS_PER_SECOND

TOKENS = "the-token"


def write(app: Flask, hits: dict[str, int], age: int = NS_PER_SECOND) -> None:
    """``hits[id]`` hits of each id, ``age`` ago."""
    now = now_ns()
    api_state(app).backends.store.get().write([Hit(id, now - age) for id, n in hits.items() for _ in range(n)])


def ranked(client: FlaskClient, query: str, **headers: str) -> Any:
    response = client.get(f"/analytics?{query}", headers=headers)
    assert response.status_code == 200, response.data
    return orjson.loads(response.data)


def test_the_ids_with_the_most_hits_come_first_with_their_counts(client: FlaskClient, app: Flask) -> None:
    write(app, {"a": 3, "b": 5, "c": 3, "d": 1})
    write(app, {"old": 9}, age=2 * NS_PER_DAY)
    assert ranked(client, "window=1d&limit=3") == {
        "window": "1 day ago",
        "prefix": "",
        "ids": [{"id": "b", "count": 5}, {"id": "a", "count": 3}, {"id": "c", "count": 3}],
    }
    assert [entry["id"] for entry in ranked(client, "window=3 days ago")["ids"]] == ["old", "b", "a", "c", "d"]
    assert ranked(client, "window=total&limit=1")["ids"] == [{"id": "old", "count": 9}]


def test_the_default_is_the_ten_first_of_the_longest_window(client: FlaskClient, app: Flask) -> None:
    write(app, {f"id{n:02}": n + 1 for n in range(12)})
    body = ranked(client, "")
    assert body["window"] == "3 days ago"
    assert [entry["id"] for entry in body["ids"]] == [f"id{n:02}" for n in range(11, 1, -1)]


def test_a_prefix_keeps_the_ids_that_start_with_it(client: FlaskClient, app: Flask) -> None:
    write(app, {"blog/a": 2, "blog/é": 3, "blogroll": 9, "docs/a": 4})
    assert [entry["id"] for entry in ranked(client, "prefix=blog/")["ids"]] == ["blog/é", "blog/a"]
    # Written decomposed, read as ids are stored: composed.
    assert [entry["id"] for entry in ranked(client, "prefix=blog/e\u0301")["ids"]] == ["blog/é"]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("limit=0", "limit must be a whole number from 1 to 100"),
        ("limit=101", "limit must be a whole number from 1 to 100"),
        ("limit=ten", "limit must be a whole number from 1 to 100"),
        ("window=4d", "window '4d' is not one of"),
        ("prefix=%01", "cannot start an id"),
    ],
)
def test_a_wrong_query_is_a_400_saying_what_is_wrong(client: FlaskClient, query: str, words: str) -> None:
    response = client.get(f"/analytics?{query}")
    assert response.status_code == 400
    assert words in orjson.loads(response.data)["message"]


def test_without_a_token_only_public_ids_are_ranked_and_the_others_never_named(make_app: AppFactory) -> None:
    app = make_app(HITCOUNT_READ_TOKENS=TOKENS, HITCOUNT_PUBLIC_IDS="public/*")
    write(app, {"secret/top": 50, "public/b": 2, "public/a": 7, "secret/other": 5, "public/c": 1})
    client = app.test_client()
    answer = client.get("/analytics?limit=2")
    assert answer.status_code == 200
    assert b"secret" not in answer.data
    assert orjson.loads(answer.data)["ids"] == [{"id": "public/a", "count": 7}, {"id": "public/b", "count": 2}]
    assert "private" not in answer.headers["Cache-Control"]
    with_token = client.get("/analytics?limit=2", headers={"Authorization": f"Bearer {TOKENS}"})
    assert [entry["id"] for entry in orjson.loads(with_token.data)["ids"]] == ["secret/top", "public/a"]
    assert with_token.headers["Cache-Control"].startswith("private, ")
    wrong = client.get("/analytics", headers={"Authorization": "Bearer wrong"})
    assert b"secret" not in wrong.data


def test_with_tokens_and_no_public_id_a_caller_without_one_gets_an_empty_ranking(make_app: AppFactory) -> None:
    app = make_app(HITCOUNT_READ_TOKENS=TOKENS)
    write(app, {"secret": 3})
    assert ranked(app.test_client(), "")["ids"] == []


def test_a_ranking_is_kept_for_the_max_age(client: FlaskClient, app: Flask) -> None:
    write(app, {"a": 1})
    first = client.get("/analytics")
    assert (first.headers["Age"], first.headers["Cache-Control"]) == ("0", "max-age=2")
    write(app, {"a": 1})
    assert orjson.loads(client.get("/analytics").data)["ids"] == [{"id": "a", "count": 1}]  # the one kept
    assert orjson.loads(client.get("/analytics?limit=9").data)["ids"] == [{"id": "a", "count": 2}]  # another


def test_a_ranking_is_served_stale_when_the_store_fails(make_app: AppFactory) -> None:
    failing: list[bool] = []

    class FailingStore(MemoryStore):
        def top(self, window: Window | None, now: int, limit: int, prefix: str = "") -> list[tuple[str, int]]:
            if failing:
                raise StoreUnavailable("connection refused")
            return super().top(window, now, limit, prefix)

    tuning = dataclasses.replace(TUNING, read_max_age=0.0)
    app = make_app(stores={"failing": FailingStore}, tuning=tuning, HITCOUNT_STORE="failing")
    client = app.test_client()
    write(app, {"a": 1})
    assert orjson.loads(client.get("/analytics").data)["ids"] == [{"id": "a", "count": 1}]
    failing.append(True)
    write(app, {"a": 1})
    stale = client.get("/analytics")
    assert (stale.status_code, stale.headers["Cache-Control"]) == (200, "no-cache")
    assert orjson.loads(stale.data)["ids"] == [{"id": "a", "count": 1}]
    assert client.get("/analytics?window=1h").status_code == 503  # none kept of that one


def test_a_store_that_cannot_rank_or_count_hours_is_a_501_saying_so(make_app: AppFactory) -> None:
    class Unranked(HitStore):
        def write(self, hits: object) -> None: ...
        def counts(self, id: str, now: int) -> Any: ...
        def purge(self, before: int) -> int:
            return 0

        def health(self) -> Health:
            return Health(True, "a store of a third party")

    app = make_app(stores={"unranked": lambda namespace: Unranked()}, HITCOUNT_STORE="unranked")
    response = app.test_client().get("/analytics")
    assert response.status_code == 501
    assert "does not rank ids" in orjson.loads(response.data)["message"]
    response = app.test_client().get("/hours/page")
    assert response.status_code == 501
    assert "does not count hits per hour" in orjson.loads(response.data)["message"]
