"""``HITCOUNT_READ_TOKENS`` and ``HITCOUNT_PUBLIC_IDS``: who may read counts, ``/metrics`` and ``/readyz``'s details.

Without tokens everything is open, as a deployment reachable only by trusted callers
wants. With tokens (several, so that one can be replaced without a moment when no token
works) a caller must send ``Authorization: Bearer <token>``; ids matching a public
pattern (a badge, a public counter) are readable by anyone. Tokens are compared in
constant time, each of them every time, so that timing tells nothing of any.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from fnmatch import fnmatchcase

from hitcount.api_flask.errors import Unauthorized

BEARER = "bearer"


@dataclass(frozen=True)
class ReadAccess:
    """The tokens that open reads, and the ids open to anyone."""

    tokens: tuple[bytes, ...]
    public_ids: tuple[str, ...]

    @classmethod
    def of(cls, tokens: tuple[str, ...], public_ids: tuple[str, ...]) -> ReadAccess:
        return cls(tuple(token.encode() for token in tokens), public_ids)

    @property
    def open(self) -> bool:
        """No tokens are set: anyone may read anything."""
        return not self.tokens

    def authenticated(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries one of the tokens (always, when none are set)."""
        if self.open:
            return True
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() != BEARER:
            return False
        presented = credentials.strip().encode("utf-8", "surrogateescape")
        return any([hmac.compare_digest(presented, token) for token in self.tokens])

    def public(self, id: str) -> bool:
        """Whether ``id`` is one anyone may read, token or not (a badge, a page's counter)."""
        return any(fnmatchcase(id, pattern) for pattern in self.public_ids)

    def check(self, authorization: str | None, id: str | None = None) -> None:
        """Raise :class:`Unauthorized` unless the caller may read ``id`` (or, without one, everything)."""
        if id is not None and self.public(id):
            return
        if not self.authenticated(authorization):
            raise Unauthorized()
