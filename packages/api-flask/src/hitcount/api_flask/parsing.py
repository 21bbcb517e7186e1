"""Turning Track request bodies into hits, with every rule a client can break.

A hit is ``{"id": "...", "timestamp": ..., "uid": "..."}``; the optional timestamp (RFC 3339
with an offset, or integer epoch milliseconds) back-dates a hit up to the longest count window
and forward-dates it by at most a minute of clock skew. The optional uid, a UUID the client
made, becomes the hit's uid, by which stores count a hit once: a client that sends a hit
again after a 503, a timeout or a lost answer sends the same uid, and the hit counts once
however many of its copies reached the queue. A hit without one gets a uid of the server's.
The optional visitor, a string of the client's own (a server-side integration's session id),
is hashed into the hit's visitor key instead of the request's address and user agent
(:mod:`hitcount.api_flask.visitors`); the parsers take the request's keying as ``key``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import orjson

from hitcount.api_flask.errors import InvalidItems, InvalidRequest, echo, first_named
from hitcount.core import Hit, InvalidHit
from hitcount.core.visitors import MAX_VISITOR_CHARS
from hitcount.core.windows import LONGEST, NS_PER_SECOND

# A request's visitor keying: the key of a hit naming a visitor (its text), or of the request's client (None).
Keying = Callable[[str | None], int | None]

MAX_BATCH = 1000
MAX_AGE_NS = LONGEST.length
MAX_AHEAD_NS = 60 * NS_PER_SECOND
NS_PER_MILLISECOND = 1_000_000
FIELDS = frozenset({"id", "timestamp", "uid", "visitor"})
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
# The text forms of a UUID that RFC 9562 and its common spellings define, and no other:
# uuid.UUID itself also takes "+", "_", surrounding spaces, nested braces and "urn:" twice.
_CANONICAL_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_UUID = re.compile(
    rf"{_CANONICAL_UUID}|\{{{_CANONICAL_UUID}\}}|urn:uuid:{_CANONICAL_UUID}|[0-9a-f]{{32}}", re.ASCII | re.IGNORECASE
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SECOND = timedelta(seconds=1)


def parse_rfc3339(text: str) -> int:
    """UTC nanoseconds of an RFC 3339 date-time; it must carry ``Z`` or an offset."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise InvalidHit(f"timestamp {echo(text)} is not an RFC 3339 date-time with an offset (or epoch milliseconds)")
    year, month, day, hour, minute, second, fraction, sign, offset_hours, offset_minutes = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc)
    except ValueError as error:
        raise InvalidHit(f"timestamp {echo(text)} is not a valid date-time: {error}") from None
    seconds = (moment - _EPOCH) // _SECOND
    if sign is not None:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            raise InvalidHit(f"timestamp {echo(text)} has an invalid UTC offset")
        offset = int(offset_hours) * 3600 + int(offset_minutes) * 60
        seconds -= offset if sign == "+" else -offset
    nanoseconds = int((fraction or "0")[:9].ljust(9, "0"))
    return seconds * NS_PER_SECOND + nanoseconds


def parse_timestamp(value: object, now: int) -> int:
    """The nanoseconds of a hit's ``timestamp`` field, within the accepted range around ``now``."""
    if isinstance(value, str):
        timestamp = parse_rfc3339(value)
    elif type(value) is int:
        timestamp = value * NS_PER_MILLISECOND
    else:
        raise InvalidHit(f"timestamp must be an RFC 3339 string or integer epoch milliseconds, not {_json_type(value)}")
    if timestamp < now - MAX_AGE_NS:
        raise InvalidHit(
            f"timestamp {echo(value)} is more than {LONGEST.reference.removesuffix(' ago')} in the past"
            + _unit_hint(value, now)
        )
    if timestamp > now + MAX_AHEAD_NS:
        raise InvalidHit(
            f"timestamp {echo(value)} is more than {MAX_AHEAD_NS // NS_PER_SECOND} s in the future"
            + _unit_hint(value, now)
        )
    return timestamp


# Nanoseconds per unit of the other units a number is sent in by mistake.
_OTHER_UNITS = {"seconds": NS_PER_SECOND, "microseconds": 1000, "nanoseconds": 1}


def _unit_hint(value: object, now: int) -> str:
    """``"; it looks like seconds since the epoch: send milliseconds"`` when an integer refused as out of
    range would be in range read in another unit, the usual mistake (``time.time()``, ``time.time_ns()``)."""
    if type(value) is not int:
        return ""
    for unit, nanoseconds in _OTHER_UNITS.items():
        if now - MAX_AGE_NS <= value * nanoseconds <= now + MAX_AHEAD_NS:
            return f"; it looks like {unit} since the epoch: send milliseconds"
    return ""


def parse_uid(value: object) -> bytes:
    """The 16 bytes of a hit's ``uid``: a UUID of any version, in one of the documented text forms.

    Those are the canonical 8-4-4-4-12 hex digits (either case), the same in braces or after
    ``urn:uuid:``, and the 32 digits alone. :class:`uuid.UUID` reads more (signs, underscores,
    spaces, doubled braces): the regular expression keeps those out, so that what a client
    sends is what the OpenAPI document says.
    """
    if type(value) is not str:
        raise InvalidHit(f"uid must be a UUID string, not {_json_type(value)}")
    if _UUID.fullmatch(value) is None:
        raise InvalidHit(
            "uid must be a UUID such as 3f2b9c4e-8d1a-4b7e-9c6d-2a5e8f1b0c3d (8-4-4-4-12 hex digits,"
            f" optionally in braces or after urn:uuid:, or the 32 digits alone), not {echo(value)}"
        )
    return uuid.UUID(value).bytes


def parse_visitor(value: object) -> str:
    """A hit's ``visitor``: a non-empty string of at most :data:`MAX_VISITOR_CHARS` characters."""
    if type(value) is not str:
        raise InvalidHit(f"visitor must be a string, not {_json_type(value)}")
    if not 1 <= len(value) <= MAX_VISITOR_CHARS:
        raise InvalidHit(f"visitor must be 1 to {MAX_VISITOR_CHARS} characters, not {len(value)}")
    return value


def no_key(named: str | None) -> None:
    """The keying of hits that get no visitor key."""
    return None


def parse_hit(item: object, now: int, key: Keying = no_key) -> Hit:
    """One hit object, its visitor keyed by ``key``; a hit without a timestamp happened at ``now``."""
    if type(item) is not dict:
        raise InvalidHit(f"a hit must be a JSON object, not {_json_type(item)}")
    if "id" not in item:
        raise InvalidHit("missing field 'id'")
    if len(item) > 1 and not item.keys() <= FIELDS:
        unknown = first_named([key for key in item if key not in FIELDS], echo)
        raise InvalidHit(f"unknown field {unknown}; a hit has only 'id', 'timestamp', 'uid' and 'visitor'")
    id = item["id"]
    if type(id) is not str:
        raise InvalidHit(f"id must be a string, not {_json_type(id)}")
    timestamp = parse_timestamp(item["timestamp"], now) if "timestamp" in item else now
    visitor = key(parse_visitor(item["visitor"]) if "visitor" in item else None)
    if "uid" in item:
        return Hit(id, timestamp, parse_uid(item["uid"]), visitor)
    return Hit(id, timestamp, visitor=visitor)


def parse_json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(f"body is not valid JSON: {error}") from None


def parse_track(body: bytes, now: int, key: Keying = no_key) -> list[Hit]:
    """The hit of a ``POST /analytics`` body."""
    try:
        return [parse_hit(parse_json(body), now, key)]
    except InvalidHit as error:
        raise InvalidRequest(str(error)) from None


def parse_batch(body: bytes, now: int, key: Keying = no_key) -> list[Hit]:
    """The hits of a ``POST /analytics/batch`` body: all of them, or :class:`InvalidItems` naming the bad ones."""
    items = parse_json(body)
    if type(items) is not list:
        raise InvalidRequest(f"a batch must be a JSON array of hits, not {_json_type(items)}")
    if not 1 <= len(items) <= MAX_BATCH:
        raise InvalidRequest(f"a batch must hold 1 to {MAX_BATCH} hits, not {len(items)}", hits=max(len(items), 1))
    hits: list[Hit] = []
    errors: dict[int, str] = {}
    for index, item in enumerate(items):
        try:
            hits.append(parse_hit(item, now, key))
        except InvalidHit as error:
            errors[index] = str(error)
    if errors:
        raise InvalidItems(errors, hits=len(items))
    return hits


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages a client understands."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
