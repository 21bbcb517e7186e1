"""CORS for the Track endpoints and reads, so that pages on other origins can send hits and show counts.

``HITCOUNT_CORS_ORIGINS`` is ``*`` (any page) or a list of origins; with a list the
matching ``Origin`` is echoed and ``Vary: Origin`` keeps caches from mixing answers.
CORS only keeps a foreign page from reading the answer, not from sending the hit (a
``text/plain`` POST needs no preflight), so with a list a Track request from another
origin is refused (:meth:`CorsPolicy.admits`). A request without ``Origin`` does not come
from a browser's page (a server, curl) and is taken.
"""

from __future__ import annotations

from dataclasses import dataclass

ALLOWED_METHODS = "POST, OPTIONS"
# sendBeacon and fetch send these; Content-Encoding lets browsers post gzip batches.
ALLOWED_HEADERS = "Content-Type, Content-Encoding"
PREFLIGHT_MAX_AGE = "86400"


@dataclass(frozen=True)
class CorsPolicy:
    """Which origins may call the Track endpoints."""

    origins: frozenset[str]

    @classmethod
    def of(cls, origins: tuple[str, ...]) -> CorsPolicy:
        return cls(frozenset(origins))

    def admits(self, origin: str | None) -> bool:
        """Whether a Track request from ``origin`` may send hits."""
        return origin is None or "*" in self.origins or origin in self.origins

    def headers(self, origin: str | None) -> list[tuple[str, str]]:
        """The headers of every Track and read answer to a request from ``origin``, preflights and errors included."""
        if "*" in self.origins:
            return [("Access-Control-Allow-Origin", "*")]
        if origin is not None and origin in self.origins:
            return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        return [("Vary", "Origin")]

    def read_headers(self, origin: str | None, public: bool) -> list[tuple[str, str]]:
        """The headers of a read's answer: with a list, a listed origin's page may read what its
        caller may; with ``*``, any page may read only the ids anyone may (``public``), so that a
        page cannot use its visitor's browser to read an API that only the visitor reaches."""
        if "*" in self.origins:
            return [("Access-Control-Allow-Origin", "*")] if public else []
        return self.headers(origin)

    def preflight_headers(self, origin: str | None) -> list[tuple[str, str]]:
        """What a preflight's answer adds to :meth:`headers`: nothing that allows anything for a foreign origin."""
        if "*" not in self.origins and origin not in self.origins:
            return []
        return [
            ("Access-Control-Allow-Methods", ALLOWED_METHODS),
            ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
            ("Access-Control-Max-Age", PREFLIGHT_MAX_AGE),
        ]
