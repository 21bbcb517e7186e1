"""Visitor keys: telling one visitor's hits from another's without keeping who anyone is.

The API derives each hit's key with a keyed hash (BLAKE2b) whose key is the **salt of the
UTC day**: 32 random bytes that every API process shares through the queue's backend
(:meth:`~hitcount.core.Queue.salt`) and that is deleted 48 hours after its day begins. Hashed
are the client's address and ``User-Agent``, or the ``visitor`` a hit names (a server-side
integration's session id). Neither the address nor the user agent goes anywhere else: only
the 64-bit key travels with the hit. Once the salt is gone, no one (an operator with the
store and a list of addresses included) can tell whose hits a key marks, and keys of different
days are unrelated: a visitor seen on two UTC days counts once on each.

The inputs are domain-separated (``a`` for a client, ``v`` for a named visitor, NUL between
fields): a named visitor can never take the key of an address and user agent.
"""

from __future__ import annotations

import hashlib
import os

from hitcount.core.windows import NS_PER_DAY

SALT_BYTES = 32
SECONDS_PER_DAY = 86_400
# A salt is deleted this many days after its day begins (so, at the end of the following day).
SALT_DAYS_KEPT = 2
# The longest ``visitor`` a hit may name, in characters.
MAX_VISITOR_CHARS = 128
KEY_BYTES = 8


def day_of(timestamp: int) -> int:
    """The UTC day (days since 1970-01-01) of a nanosecond timestamp: which day's salt keys it."""
    return timestamp // NS_PER_DAY


def new_salt() -> bytes:
    """A fresh salt: 32 bytes from the operating system's random source."""
    return os.urandom(SALT_BYTES)


def salt_expiry(day: int) -> int:
    """When the salt of ``day`` is deleted, in Unix seconds: :data:`SALT_DAYS_KEPT` days after its day began."""
    return (day + SALT_DAYS_KEPT) * SECONDS_PER_DAY


class VisitorHash:
    """The keyed hash of one day's salt: the visitor keys of that day.

    The key schedule is done once, in the constructor: each key copies the keyed state, which
    costs half of keying BLAKE2b anew, on every Track request.
    """

    __slots__ = ("_keyed",)

    def __init__(self, salt: bytes) -> None:
        self._keyed = hashlib.blake2b(digest_size=KEY_BYTES, key=salt)

    def client(self, address: str, user_agent: str) -> int:
        """The visitor key of a client at ``address`` sending ``user_agent``."""
        return self._key(b"a\0" + _utf8(address) + b"\0" + _utf8(user_agent))

    def named(self, visitor: str) -> int:
        """The visitor key of a hit naming its visitor (a session id of the client's own)."""
        return self._key(b"v\0" + _utf8(visitor))

    def _key(self, data: bytes) -> int:
        hash = self._keyed.copy()
        hash.update(data)
        return int.from_bytes(hash.digest(), "big", signed=True)


def _utf8(text: str) -> bytes:
    # WSGI gives headers as Latin-1 text of the raw bytes; surrogateescape keeps any text encodable.
    return text.encode("utf-8", "surrogateescape")
