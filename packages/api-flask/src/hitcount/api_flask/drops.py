"""Which Track requests are answered 204 and not counted: bots, prefetches, and Do-Not-Track when asked.

A count is meant to be people's views. A crawler, a headless browser or a chat app's link
preview fetching a page is not one, nor is a page prefetched or prerendered before anyone
looks at it (``Sec-Purpose: prefetch``, or the older ``Purpose: prefetch``); with
``HITCOUNT_RESPECT_DNT=on``, neither is a view from a browser asking not to be tracked
(``DNT: 1`` or Global Privacy Control's ``Sec-GPC: 1``). Such a request is answered as any
other, so that nothing retries it or learns the verdict, and its hits are counted in
``hitcount_api_hits_dropped_total`` under the first reason that holds, in that order.

Bots are told by the ``User-Agent`` header alone, with the patterns of the
``crawler-user-agents`` package (a list its maintainers keep up with the bots seen in the
wild), less those it tags ``http-library``: curl, python-requests, Go's or Node's HTTP
clients fetch no pages by themselves, they are what a server-side integration sends its
hits with, and what the README's first example uses. The patterns are matched as written,
case-sensitively, as the package's own examples are: they spell each bot's name as the bot
does (every one of the list's example agents matches so, and no agent of a real browser
matches either way), and the package's case-insensitive mode lowercases the patterns
themselves, which breaks the few written with ``\\S``.

Matching an agent against some 1,500 patterns takes far longer than the rest of a Track
request, so each verdict is kept, per worker, for the most recently seen agents, a bounded
number of them so that a client sending made-up agents cannot grow the worker's memory;
the cost of a kept verdict and of a new one is measured in BENCHMARKS.md, "Bot filter".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crawleruseragents import CRAWLER_USER_AGENTS_DATA

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

BOT = "bot"
PREFETCH = "prefetch"
DNT = "dnt"
# The reasons a hit is left out, as the dropped metric labels them.
REASONS = (PREFETCH, BOT, DNT)

# The list's tag for HTTP client libraries, which are not bots (see the module's docstring).
HTTP_LIBRARY = "http-library"
# Patterns per compiled alternation: Python's re tries an alternation's branches one by one at each
# position, so many short alternations find a bot, or none, faster than one long one.
PATTERNS_PER_REGEX = 10


def _bot_patterns() -> list[re.Pattern[str]]:
    patterns = [entry["pattern"] for entry in CRAWLER_USER_AGENTS_DATA if HTTP_LIBRARY not in entry.get("tags", ())]
    return [
        re.compile("|".join(patterns[start : start + PATTERNS_PER_REGEX]))
        for start in range(0, len(patterns), PATTERNS_PER_REGEX)
    ]


BOT_PATTERNS = _bot_patterns()


def is_bot(agent: str) -> bool:
    """Whether the ``User-Agent`` ``agent`` is a crawler's, a headless browser's or a link preview's."""
    return any(pattern.search(agent) for pattern in BOT_PATTERNS)


def _says(value: str | None, token: str) -> bool:
    """Whether a header's first item (before any ``;`` parameters) is ``token``."""
    return value is not None and value.partition(";")[0].strip().lower() == token


@dataclass(frozen=True)
class DropPolicy:
    """What a worker leaves out, from ``HITCOUNT_COUNT_BOTS`` and ``HITCOUNT_RESPECT_DNT``, with its verdicts
    on the last ``agents`` user agents it has seen."""

    count_bots: bool
    respect_dnt: bool
    bot_verdict: Callable[[str], bool]

    @classmethod
    def of(cls, count_bots: bool, respect_dnt: bool, agents: int) -> DropPolicy:
        return cls(count_bots, respect_dnt, functools.lru_cache(maxsize=agents)(is_bot))

    def reason(self, environ: WSGIEnvironment) -> str | None:
        """Why the request's hits are not counted (one of :data:`REASONS`), or None when they are."""
        if _says(environ.get("HTTP_SEC_PURPOSE"), PREFETCH) or _says(environ.get("HTTP_PURPOSE"), PREFETCH):
            return PREFETCH
        if not self.count_bots and self.bot_verdict(environ.get("HTTP_USER_AGENT", "")):
            return BOT
        if self.respect_dnt and (environ.get("HTTP_DNT") == "1" or environ.get("HTTP_SEC_GPC") == "1"):
            return DNT
        return None
