"""``HITCOUNT_TRUSTED_PROXIES``: whose ``X-Forwarded-For`` is believed when telling a client's address.

Anyone can send ``X-Forwarded-For``; only the proxies in front of the API append to it
what they saw. So the header is read only when the connection comes from a trusted proxy,
from its right end, skipping the trusted proxies' own addresses: the first address that
is not one of them is the client's (whatever a client wrote further left is its own claim).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

Network = IPv4Network | IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses and CIDR blocks (``10.0.0.0/8, ::1``); nothing for none."""
    return tuple(ip_network(item.strip(), strict=False) for item in text.split(",") if item.strip())


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` is believed."""

    networks: tuple[Network, ...]

    def client(self, environ: WSGIEnvironment) -> str:
        """The address of the client a request comes from."""
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
        try:
            parsed = ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self.networks)
