"""What Track's filter of bots, prefetches and Do-Not-Track (``hitcount.api_flask.drops``) costs a hit.

Times :meth:`DropPolicy.reason` on the WSGI environs of a mix of real browsers' and bots'
requests: with the verdicts kept (every agent seen before, as a site's visitors are) and with
none kept (every agent new, as from a client making agents up), browsers and bots apart,
since a browser's agent is matched against every pattern and a bot's only until one matches.
Then checks the case choice: the list's own example agents must all be told bots as written,
and, given a file of real browser agents (one per line), none of them may be.

    python bench/drops.py [--agents FILE]
"""

from __future__ import annotations

import argparse
import re
import statistics
import timeit
from pathlib import Path

from crawleruseragents import CRAWLER_USER_AGENTS_DATA

from hitcount.api_flask.drops import HTTP_LIBRARY, DropPolicy, is_bot

BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0"
    " Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1"
    " Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1"
    " Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    " Edg/131.0.0.0",
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko)"
    " SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    " OPR/115.0.0.0",
    "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
]
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "WhatsApp/2.23.20.0",
]
CALLS = 20_000


def environ(agent: str) -> dict[str, str]:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/analytics", "HTTP_USER_AGENT": agent}


def per_call_us(policy: DropPolicy, agents: list[str], calls: int) -> float:
    """Median over 5 rounds of the microseconds one :meth:`DropPolicy.reason` takes, cycling through ``agents``."""
    environs = [environ(agent) for agent in agents]
    reason = policy.reason
    rounds = calls // len(environs) or 1

    def run() -> None:
        for _ in range(rounds):
            for request in environs:
                reason(request)

    return statistics.median(timeit.repeat(run, number=1, repeat=5)) / (rounds * len(environs)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=Path, help="a file of real browser agents, one per line, none a bot")
    arguments = parser.parse_args()
    # The mix a page sees: mostly browsers, some bots; DNT checked too, as with HITCOUNT_RESPECT_DNT=on.
    mix = BROWSERS * 4 + BOTS
    kept = DropPolicy.of(count_bots=False, respect_dnt=True, agents=4096)
    none_kept = DropPolicy.of(count_bots=False, respect_dnt=True, agents=0)
    print(f"{len(BROWSERS)} browser and {len(BOTS)} bot agents, {len(mix)} requests in the mix")
    print(f"verdicts kept, the mix:   {per_call_us(kept, mix, CALLS):8.2f} us per hit")
    print(f"verdicts kept, browsers:  {per_call_us(kept, BROWSERS, CALLS):8.2f} us per hit")
    print(f"verdicts kept, bots:      {per_call_us(kept, BOTS, CALLS):8.2f} us per hit")
    print(f"no verdict kept, browsers:{per_call_us(none_kept, BROWSERS, 200):8.2f} us per hit")
    print(f"no verdict kept, bots:    {per_call_us(none_kept, BOTS, 200):8.2f} us per hit")
    print(f"no verdict kept, the mix: {per_call_us(none_kept, mix, 200):8.2f} us per hit")
    examples = [
        agent
        for entry in CRAWLER_USER_AGENTS_DATA
        if HTTP_LIBRARY not in entry.get("tags", ())
        for agent in entry.get("instances", ())
    ]
    told = sum(is_bot(agent) for agent in examples)
    print(f"the list's example bot agents told bots as written: {told} of {len(examples)}")
    if arguments.agents:
        agents = {line.strip() for line in arguments.agents.read_text().splitlines() if line.strip()}
        anycase = [
            re.compile(entry["pattern"], re.IGNORECASE)
            for entry in CRAWLER_USER_AGENTS_DATA
            if HTTP_LIBRARY not in entry.get("tags", ())
        ]
        flagged = sum(is_bot(agent) for agent in agents)
        flagged_anycase = sum(any(pattern.search(agent) for pattern in anycase) for agent in agents)
        print(f"real browser agents told bots: {flagged} of {len(agents)} as written, {flagged_anycase} in any case")


if __name__ == "__main__":
    main()
