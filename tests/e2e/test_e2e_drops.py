"""The API leaves out a bot's hits: answered 204 like a browser's, and never counted."""

from __future__ import annotations

from hitcount.core import WINDOWS
from tests.e2e.pipeline import Stack

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


def test_a_googlebot_hit_is_answered_204_and_not_counted_while_a_browsers_is(stack: Stack, id: str) -> None:
    dropped = 'hitcount_api_hits_dropped_total{reason="bot"}'
    before = stack.metric(dropped)
    assert stack.post("/analytics", {"id": id}, {"User-Agent": GOOGLEBOT}).status == 204
    assert stack.post("/analytics", {"id": id}, {"User-Agent": FIREFOX}).status == 204
    stack.wait_for_counts(id, [1] * len(WINDOWS))
    assert stack.metric(dropped) == before + 1
