"""Visitors, end to end: hits of one address and agent are one visitor, and neither is kept anywhere.

The API trusts no proxy in the stack (it reads the socket's 127.0.0.1), so visitors here differ by
their agents; to see that no address is kept, the privacy test runs an API of its own that
trusts 127.0.0.1 and takes the address from ``X-Forwarded-For``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitcount.api_flask.drops import is_bot
from hitcount.core import WINDOWS
from tests.e2e.pipeline import Stack

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SLACKBOT = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"


def visitors(stack: Stack, id: str) -> list[int]:
    answer = stack.request("GET", f"/analytics/{id}")
    assert answer.status == 200, answer.body
    return [window["visitors"] for window in answer.json()["counts"]]


def test_three_hits_of_one_visitor_and_one_of_another_are_4_hits_of_2_visitors(stack: Stack, id: str) -> None:
    for agent in (FIREFOX, FIREFOX, FIREFOX, SAFARI, GOOGLEBOT, SLACKBOT):
        assert stack.post("/analytics", {"id": id}, {"User-Agent": agent}).status == 204
    stack.wait_for_counts(id, [4] * len(WINDOWS))  # the bots' hits answered 204 and not counted
    assert visitors(stack, id) == [2] * len(WINDOWS)


def test_a_hit_naming_its_visitor_counts_as_that_visitor_whoever_sends_it(stack: Stack, id: str) -> None:
    for agent, visitor in ((FIREFOX, "session-1"), (SAFARI, "session-1"), (FIREFOX, "session-2")):
        assert stack.post("/analytics", {"id": id, "visitor": visitor}, {"User-Agent": agent}).status == 204
    stack.wait_for_counts(id, [3] * len(WINDOWS))
    assert visitors(stack, id) == [2] * len(WINDOWS)


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own, behind a "proxy" at 127.0.0.1, with the access log on."""
    stack = Stack(tmp_path, {"HITCOUNT_TRUSTED_PROXIES": "127.0.0.1", "HITCOUNT_ACCESS_LOG": "on"})
    yield stack
    try:
        stack.stop()
    finally:
        stack.discard_data()


def test_no_address_nor_agent_is_kept_in_the_queue_the_store_the_spool_or_the_logs(
    proxied: Stack, tmp_path: Path, id: str
) -> None:
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    agent = f"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0 Probe{uuid.uuid4().hex}"
    assert not is_bot(agent)
    sent = {"User-Agent": agent, "X-Forwarded-For": address}
    for _ in range(3):
        assert proxied.post("/analytics", {"id": id}, sent).status == 204
    assert proxied.post("/analytics/batch", [{"id": id}, {"id": id, "visitor": "s"}], sent).status == 204
    proxied.wait_for_counts(id, [5] * len(WINDOWS))
    assert visitors(proxied, id) == [2] * len(WINDOWS)
    proxied.stop()  # the logs complete, the files closed
    kept = _every_byte_kept(proxied, tmp_path)
    assert id.encode() in kept  # the search looks where the hits are
    assert address.encode() not in kept
    assert agent.encode() not in kept
    assert agent.split("Probe")[1].encode() not in kept


def _every_byte_kept(stack: Stack, directory: Path) -> bytes:
    """The files of the run (the sqlite queue, store, cache and spool, every log) and what its Redis and
    Elasticsearch hold under its prefixes."""
    kept = [path.read_bytes() for path in directory.rglob("*") if path.is_file()]
    if stack.environ.get("HITCOUNT_QUEUE") == "redis":
        kept.append(_redis_contents(stack))
    if stack.environ.get("HITCOUNT_STORE") == "elastic":
        kept.append(_elastic_contents(stack))
    return b"\n".join(kept)


def _redis_contents(stack: Stack) -> bytes:
    import redis

    client = redis.Redis.from_url(stack.environ["HITCOUNT_REDIS_URL"])
    contents: list[bytes] = []
    for key in client.scan_iter(match=f"{stack.environ['HITCOUNT_REDIS_PREFIX']}*"):
        kind = client.type(key)
        if kind == b"string":
            contents.append(repr(client.get(key)).encode())
        elif kind == b"stream":
            contents.append(repr(client.xrange(key)).encode())
        elif kind == b"hash":
            contents.append(repr(client.hgetall(key)).encode())
        else:
            contents.append(repr(client.dump(key)).encode())
    return b"\n".join(contents)


def _elastic_contents(stack: Stack) -> bytes:
    from elasticsearch import Elasticsearch

    client = Elasticsearch(stack.environ["HITCOUNT_ELASTIC_URL"])
    found = client.search(index=f"{stack.environ['HITCOUNT_ELASTIC_INDEX_PREFIX']}-*", size=10_000)
    return json.dumps(found.body).encode()
