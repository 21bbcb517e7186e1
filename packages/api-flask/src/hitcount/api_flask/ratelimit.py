"""``HITCOUNT_RATE_LIMIT`` and ``HITCOUNT_READ_RATE_LIMIT``: how many Track and read requests one
client address may send, per worker process.

A token bucket per address: it holds up to the limit's count and refills at the limit's
pace, so ``50/s`` lets an address send 50 at once, then one every 20 ms. The buckets live
in the worker: a shared one (Redis) would cost a round trip per request, more than a
Track request's own work, and the embedded shape has no Redis. Under gunicorn an address
whose connections land on several workers may so send up to ``HITCOUNT_WORKERS`` times
the limit.

A bucket that has refilled is what an address never seen gets, so the full ones are
forgotten once per refill period: the buckets kept are those of the addresses seen within
about that period.

An IPv6 client gets a whole prefix (a /64: what one subscriber or host is handed;
:class:`~hitcount.api_flask.tuning.Tuning`), so that it cannot take a fresh bucket per address
of its block; an IPv4 client one per address.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

from hitcount.api_flask.errors import RateLimited
from hitcount.api_flask.proxies import parse_address

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|m|h)\s*$")
_PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}
OFF = "off"


@dataclass(frozen=True)
class Rate:
    """``count`` requests per ``period`` seconds."""

    count: int
    period: float


def parse_rate(text: str) -> Rate | None:
    """A rate such as ``50/s``, ``3000/m`` or ``10000/h``; None for ``off``."""
    if text.strip().lower() == OFF:
        return None
    match = _RATE.match(text)
    if not match or int(match.group(1)) < 1:
        raise ValueError("expected off or a count of at least 1 per s, m or h, such as 50/s or 3000/m")
    return Rate(int(match.group(1)), _PERIODS[match.group(2)])


class RateLimiter:
    """One worker's token buckets, one per client address (IPv6: per prefix), for the limit ``setting`` names."""

    def __init__(
        self, rate: Rate, setting: str, ipv6_prefix: int = 64, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._setting = setting
        self._ipv6_prefix = ipv6_prefix
        self._capacity = float(rate.count)
        self._per_second = rate.count / rate.period
        self._sweep_interval = rate.period
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, when counted)
        self._sweep_at = clock() + rate.period

    def check(self, address: str) -> None:
        """Spend a token of ``address``; raises :class:`RateLimited` when it has none."""
        wait = self.take(address)
        if wait:
            raise RateLimited(wait, self._setting)

    def take(self, address: str) -> float:
        """0 when ``address`` may send now (it spent a token), else the seconds until it may."""
        address = self._bucket(address)
        now = self._clock()
        if now >= self._sweep_at:
            self._sweep(now)
        tokens, then = self._buckets.get(address, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - then) * self._per_second)
        if tokens < 1:
            self._buckets[address] = (tokens, now)
            return (1 - tokens) / self._per_second
        self._buckets[address] = (tokens - 1, now)
        return 0.0

    def _bucket(self, address: str) -> str:
        """The bucket's key: the address, or for IPv6 its prefix; text that is no address as it is."""
        parsed = parse_address(address)
        if isinstance(parsed, IPv6Address):
            return str(IPv6Network((parsed, self._ipv6_prefix), strict=False))
        return address if parsed is None else str(parsed)

    def __len__(self) -> int:
        """How many addresses have a bucket that is not full."""
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        self._buckets = {
            address: (tokens, then)
            for address, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self._per_second < self._capacity
        }
        self._sweep_at = now + self._sweep_interval
