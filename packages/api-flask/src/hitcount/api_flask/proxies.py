"""``HITCOUNT_TRUSTED_PROXIES``: whose ``X-Forwarded-For`` is believed when telling a client's address.

Anyone can send ``X-Forwarded-For``; only the proxies in front of the API append to it
what they saw. So the header is read only when the connection comes from a trusted proxy,
from its right end, skipping the trusted proxies' own addresses: the first address that
is not one of them is the client's (whatever a client wrote further left is its own claim).

An address is told in one spelling whatever the proxy wrote (:func:`parse_address`): some
write the client's port too (``1.2.3.4:5678``, ``[2001:db8::1]:443``), and a dual-stack
socket shows an IPv4 client as ``::ffff:1.2.3.4``; read raw, each of those would be a
client of its own to the rate limits.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

Network = IPv4Network | IPv6Network
# Addresses whose parse a worker keeps, the most recently seen: parsing one takes microseconds, which
# every Track request would spend on its client's (its visitor key, its rate limit) again and again.
ADDRESSES_KEPT = 4096
Address = IPv4Address | IPv6Address


@functools.lru_cache(maxsize=ADDRESSES_KEPT)
def parse_address(text: str) -> Address | None:
    """The address ``text`` names, with or without a port (``1.2.3.4:80``, ``[::1]:80``), an IPv4-mapped
    IPv6 address as the IPv4 one; None when it names none (a proxy's ``unknown``, garbage)."""
    text = text.strip()
    if text.startswith("["):  # [v6] or [v6]:port
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:  # v4:port (a bare v6 address has at least two colons)
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses and CIDR blocks (``10.0.0.0/8, ::1``); nothing for none."""
    return tuple(ip_network(item.strip(), strict=False) for item in text.split(",") if item.strip())


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` is believed."""

    networks: tuple[Network, ...]

    def client(self, environ: WSGIEnvironment) -> str:
        """The address of the client a request comes from, in :func:`parse_address`'s spelling when it is one."""
        return _spelled(self._client(environ))

    def _client(self, environ: WSGIEnvironment) -> str:
        peer: str = environ.get("REMOTE_ADDR") or ""
        if not self.networks or not self._trusted(peer):
            return peer
        forwarded: str = environ.get("HTTP_X_FORWARDED_FOR") or ""
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        # Every hop is a trusted proxy: the left-most is the nearest thing to a client there is.
        return hops[0] if hops else peer

    def _trusted(self, address: str) -> bool:
        parsed = parse_address(address)
        return parsed is not None and any(parsed in network for network in self.networks)


@functools.lru_cache(maxsize=ADDRESSES_KEPT)
def _spelled(text: str) -> str:
    address = parse_address(text)
    return text if address is None else str(address)
