"""``HITCOUNT_READ_TOKENS`` and ``HITCOUNT_PUBLIC_IDS``: who may read counts, ``/metrics`` and ``/readyz``'s details.

Without tokens everything is open, as a deployment reachable only by trusted callers
wants. With tokens (several, so that one can be replaced without a moment when no token
works) a caller must send ``Authorization: Bearer <token>``; ids matching a public
pattern (a badge, a public counter) are readable by anyone. Tokens are compared in
constant time, each of them every time, so that timing tells nothing of any.

Access is decided on the id that is read, never on the id as sent: a store holds ids in
Unicode normal form C, so ``blog\u0301-secret`` (``blog`` and a combining accent) reads
``blo\u01f5-secret``, which ``blog*`` does not match. Decisions therefore take a
:class:`ReadId`, which only :func:`read_id` makes: mypy refuses a request's raw text there.
"""

from __future__ import annotations

import hmac
import unicodedata
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import NewType

from hitcount.api_flask.errors import Unauthorized
from hitcount.core.hit import validate_id

BEARER = "bearer"

ReadId = NewType("ReadId", str)
"""An id as it is read: valid and in normal form C."""


def read_id(text: str) -> ReadId:
    """The id ``text`` names, as it is read, or core's ``InvalidHit`` saying why it is not an id."""
    return ReadId(validate_id(text))


@dataclass(frozen=True)
class ReadAccess:
    """The tokens that open reads, and the ids open to anyone."""

    tokens: tuple[bytes, ...]
    public_ids: tuple[str, ...]

    @classmethod
    def of(cls, tokens: tuple[str, ...], public_ids: tuple[str, ...]) -> ReadAccess:
        # Patterns are matched against ids in normal form C, so they are written in it too.
        patterns = tuple(unicodedata.normalize("NFC", pattern) for pattern in public_ids)
        return cls(tuple(token.encode() for token in tokens), patterns)

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

    def public(self, id: ReadId) -> bool:
        """Whether ``id`` is one anyone may read, token or not (a badge, a page's counter)."""
        return any(fnmatchcase(id, pattern) for pattern in self.public_ids)

    def needs_token(self, id: ReadId | None = None) -> bool:
        """Whether reading ``id`` (or, without one, everything) takes a token: tokens are set, the id is not public."""
        return not self.open and not (id is not None and self.public(id))

    def check(self, authorization: str | None, id: ReadId | None = None) -> None:
        """Raise :class:`Unauthorized` unless the caller may read ``id`` (or, without one, everything)."""
        if self.needs_token(id) and not self.authenticated(authorization):
            raise Unauthorized(of_id=id is not None)
