"""The hit: one tracked event, the unit every backend stores and counts."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field

from hitcount.core.errors import InvalidHit

MAX_ID_BYTES = 256
UID_BYTES = 16
# C0 controls, DEL and C1 controls: invisible in logs and dashboards, so never part of an id.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def now_ns() -> int:
    """The current UTC time in integer nanoseconds, the unit of every hitcount timestamp."""
    return time.time_ns()


def new_uid() -> bytes:
    """A fresh random uid; 128 random bits make collisions negligible without coordination."""
    return os.urandom(UID_BYTES)


def validate_id(value: object) -> str:
    """Return ``value`` if it is a valid hit id, else raise :class:`InvalidHit` saying why."""
    if not isinstance(value, str):
        raise InvalidHit(f"id must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidHit("id must not be empty")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidHit("id must be valid Unicode (no lone surrogates)") from None
    if size > MAX_ID_BYTES:
        raise InvalidHit(f"id must be at most {MAX_ID_BYTES} UTF-8 bytes, not {size}")
    if _CONTROL.search(value):
        raise InvalidHit("id must not contain control characters")
    return value


@dataclass(frozen=True, slots=True)
class Hit:
    """One hit of ``id`` at ``timestamp`` (UTC nanoseconds).

    ``uid`` identifies this hit and no other: a queue may deliver a batch twice, and
    stores write idempotently by uid so that the copy changes no count.
    """

    id: str
    timestamp: int
    uid: bytes = field(default_factory=new_uid)

    def __post_init__(self) -> None:
        validate_id(self.id)
        if type(self.timestamp) is not int or self.timestamp < 0:
            raise InvalidHit(f"timestamp must be a non-negative integer of nanoseconds, not {self.timestamp!r}")
        if len(self.uid) != UID_BYTES:
            raise InvalidHit(f"uid must be {UID_BYTES} bytes, not {len(self.uid)}")

    @classmethod
    def now(cls, id: str) -> Hit:
        """A new hit of ``id`` happening now."""
        return cls(id, now_ns())
