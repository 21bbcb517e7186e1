"""The hit: one tracked event, the unit every backend stores and counts."""

from __future__ import annotations

import os
import re
import time
import unicodedata
from dataclasses import dataclass, field

from hitcount.core.errors import InvalidHit

MAX_ID_BYTES = 256
UID_BYTES = 16
# Visitor keys are signed 64-bit integers: what protobuf's sfixed64, SQLite's integer and Elasticsearch's long hold.
VISITOR_MIN, VISITOR_MAX = -(2**63), 2**63 - 1
# C0 controls, DEL and C1 controls: invisible in logs and dashboards, so never part of an id.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Noncharacters: U+FDD0..U+FDEF and the last two code points of every plane, never for interchange.
_NONCHARACTER = re.compile(
    "[\ufdd0-\ufdef" + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17)) + "]"
)


def now_ns() -> int:
    """The current UTC time in integer nanoseconds, the unit of every hitcount timestamp."""
    return time.time_ns()


def new_uid() -> bytes:
    """A fresh random uid; 128 random bits make collisions negligible without coordination."""
    return os.urandom(UID_BYTES)


def validate_id(value: object) -> str:
    """The id ``value`` in Unicode normal form C, or :class:`InvalidHit` saying why it is not a valid id.

    Ids are compared as code points, so the composed and decomposed spellings of "é" would
    count apart: every id is normalised, on write and on read alike. Characters that do
    not show (controls, format characters such as bidi overrides and zero-width spaces)
    would let two ids that look the same count apart and disguise what a log line or a
    dashboard shows, and noncharacters are not for interchange: none is part of an id.
    """
    if not isinstance(value, str):
        raise InvalidHit(f"id must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidHit("id must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidHit("id must be valid Unicode (no lone surrogates)") from None
    if not value.isascii():  # ASCII is in normal form C and has no format characters or noncharacters
        value = unicodedata.normalize("NFC", value)
        _refuse_invisible(value)
    size = len(value.encode("utf-8"))
    if size > MAX_ID_BYTES:
        raise InvalidHit(f"id must be at most {MAX_ID_BYTES} UTF-8 bytes, not {size}")
    if _CONTROL.search(value):
        raise InvalidHit("id must not contain control characters")
    return value


def _refuse_invisible(value: str) -> None:
    """Refuse format characters (category Cf) and noncharacters, naming the first one."""
    for character in value:
        if character > "\x7f" and unicodedata.category(character) == "Cf":
            raise InvalidHit(
                f"id must not contain format characters (such as bidi controls or zero-width characters);"
                f" it holds U+{ord(character):04X} {unicodedata.name(character, '')}".rstrip()
            )
    noncharacter = _NONCHARACTER.search(value)
    if noncharacter is not None:
        raise InvalidHit(f"id must not contain noncharacters; it holds U+{ord(noncharacter.group()):04X}")


@dataclass(frozen=True, slots=True)
class Hit:
    """One hit of ``id`` at ``timestamp`` (UTC nanoseconds).

    ``uid`` identifies this hit among the hits of its ``id``: a queue may deliver a batch
    twice, and stores write idempotently by (id, uid) so that the copy changes no count. A
    client may give one uid to hits of several ids (one page view counted for a page and
    for its site): each counts. ``id`` is kept
    in Unicode normal form C (:func:`validate_id`), whatever form it was given in.
    """

    id: str
    timestamp: int
    uid: bytes = field(default_factory=new_uid)
    #: The hit's visitor key (:mod:`hitcount.core.visitors`), by which stores count distinct visitors;
    #: None when the API could not derive one (the hit counts as a hit, not as a visitor). A keyed
    #: hash whose key is deleted within two days: it names no one.
    visitor: int | None = None

    def __post_init__(self) -> None:
        id = validate_id(self.id)
        if id is not self.id:
            object.__setattr__(self, "id", id)  # frozen: the normal form replaces what was given
        if type(self.timestamp) is not int or self.timestamp < 0:
            raise InvalidHit(f"timestamp must be a non-negative integer of nanoseconds, not {self.timestamp!r}")
        if len(self.uid) != UID_BYTES:
            raise InvalidHit(f"uid must be {UID_BYTES} bytes, not {len(self.uid)}")
        visitor = self.visitor
        if visitor is not None and (type(visitor) is not int or not VISITOR_MIN <= visitor <= VISITOR_MAX):
            raise InvalidHit(f"visitor must be a signed 64-bit integer or None, not {self.visitor!r}")

    @classmethod
    def now(cls, id: str) -> Hit:
        """A new hit of ``id`` happening now."""
        return cls(id, now_ns())
