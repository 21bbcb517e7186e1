"""Every error a request can meet, and the one table that turns each into an HTTP answer.

Backends raise core's errors (:mod:`hitcount.core.errors`); the API adds only what is
its own: the refusals of a request's body (:class:`Rejected` and its subclasses) and the
queue's deadline (:class:`QueueTimeout`, a kind of core's ``QueueUnavailable``) and the bound on
concurrent store reads (:class:`StoreBusy`, a kind of ``StoreUnavailable``).
:data:`ANSWERS` gives each its status, the label of the rejection metric and the words
that open its message; :func:`answer_of` looks an error up through its class hierarchy,
so a backend's own subclass of a core error is answered like that error.

What an answer says is meant for any client, authenticated or not: a backend's error
answers with its context alone (its own words name URLs, hosts and paths, and go to the
log), and input echoed back (:func:`echo`) is cut short, lists of offenders to their first
few (:func:`first_named`): an answer never grows with the request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from hitcount.core import InvalidHit, QueueFull, QueueUnavailable, StoreError, StoreUnavailable, UnknownWindow

# Seconds a client should wait before retrying after a 503.
RETRY_AFTER = "1"
# Characters of a client's input an error message repeats: enough to recognise it, not
# enough to turn an answer into a mirror of whatever was sent.
ECHO_LIMIT = 64
# Offenders an error message names (unknown fields, a batch's bad items): the first few, and
# how many more, so that a request with hundreds of them is not answered with all of them.
NAMED_LIMIT = 5

T = TypeVar("T")


def echo(value: object) -> str:
    """A client's ``value`` as an error message repeats it: a string quoted and cut to
    :data:`ECHO_LIMIT` characters as shown, escapes included (a control character shows as
    up to ten), anything else (a number) as Python shows it."""
    if not isinstance(value, str):
        return repr(value)
    cut = value[:ECHO_LIMIT]
    while len(repr(cut)) > ECHO_LIMIT + 2:  # the quotes aside
        cut = cut[:-1]
    return repr(cut) if cut == value else f"{cut!r}..."


def first_named(offenders: Sequence[T], name: Callable[[T], str] = str) -> str:
    """The first :data:`NAMED_LIMIT` of ``offenders``, each as ``name`` shows it, and how many more."""
    named = ", ".join(name(offender) for offender in offenders[:NAMED_LIMIT])
    more = len(offenders) - NAMED_LIMIT
    return f"{named} and {more} more" if more > 0 else named


class Rejected(Exception):
    """A request refused before any backend saw it; ``hits`` is how many hits it carried."""

    def __init__(self, message: str, hits: int = 1) -> None:
        super().__init__(message)
        self.hits = hits

    def details(self) -> dict[str, object]:
        """Fields of the JSON answer besides ``message``."""
        return {}

    def headers(self) -> list[tuple[str, str]]:
        """Headers of the answer besides those of its status (:attr:`Answer.headers`)."""
        return []


class InvalidRequest(Rejected):
    """The body or the id breaks the API's rules."""


class InvalidItems(InvalidRequest):
    """Some items of a batch are invalid; none of the batch is taken, and the answer names the
    first :data:`NAMED_LIMIT` of them, with their errors, and how many more there are."""

    def __init__(self, errors: dict[int, str], hits: int) -> None:
        indexes = first_named(list(errors))
        super().__init__(f"invalid batch items at indexes {indexes}; nothing of the batch was recorded", hits)
        self.errors = errors

    def details(self) -> dict[str, object]:
        named = list(self.errors.items())[:NAMED_LIMIT]
        return {"errors": [{"index": index, "message": message} for index, message in named]}


class PayloadTooLarge(Rejected):
    """The body, as sent or decompressed, is over the largest body the API reads (64 KiB)."""


class UnsupportedEncoding(Rejected):
    """A ``Content-Encoding`` other than gzip or identity."""


class Unauthorized(Rejected):
    """A read, ``/metrics`` or ``/readyz``'s details without a valid ``HITCOUNT_READ_TOKENS`` bearer token.

    A read of an id says the other way in too: a page's counter or badge cannot keep a token
    secret, so it reads only ids of ``HITCOUNT_PUBLIC_IDS``.
    """

    def __init__(self, of_id: bool = False) -> None:
        public = "; pages and badges read without one only ids of HITCOUNT_PUBLIC_IDS" if of_id else ""
        super().__init__(
            f"a bearer token of HITCOUNT_READ_TOKENS is needed: send Authorization: Bearer <token>{public}", 0
        )


class ForeignOrigin(Rejected):
    """A browser's Track request from an origin ``HITCOUNT_CORS_ORIGINS`` does not list."""


class RateLimited(Rejected):
    """A client address over the rate limit ``setting`` names; ``retry_after`` is when it may send again (seconds)."""

    def __init__(self, retry_after: float, setting: str) -> None:
        super().__init__(f"too many requests from this address: over {setting}")
        self.retry_after = retry_after

    def headers(self) -> list[tuple[str, str]]:
        # Whole seconds, rounded up: a client that waits that long finds a token.
        return [("Retry-After", str(max(1, math.ceil(self.retry_after))))]


class RequestTimeout(Rejected):
    """The body did not arrive within the client timeout (10 s)."""


class Unsupported(Exception):
    """The store cannot answer this read (:meth:`HitStore.top`, :meth:`HitStore.hours`): a store of a third
    party written before them."""


class QueueTimeout(QueueUnavailable):
    """The queue did not take the hits within the enqueue timeout (1 s)."""


class StoreBusy(StoreUnavailable):
    """The worker already runs as many store reads as it may (32): another would only queue behind them."""


@dataclass(frozen=True)
class Answer:
    """How the API answers one kind of error."""

    status: int
    # The label of hitcount_api_hits_rejected when a Track request meets it.
    reason: str
    # For errors that come from a backend: the whole message, the error's own words being the operator's.
    context: str | None = None
    # Worth an operator's attention at every occurrence: logged with its traceback.
    logged: bool = False

    @property
    def headers(self) -> list[tuple[str, str]]:
        """A 503 tells the client when to try again, a 401 how to authenticate."""
        if self.status == 503:
            return [("Retry-After", RETRY_AFTER)]
        if self.status == 401:
            return [("WWW-Authenticate", "Bearer")]
        return []

    def message(self, error: Exception) -> str:
        return self.context or str(error)


ANSWERS: dict[type[Exception], Answer] = {
    InvalidRequest: Answer(400, "invalid"),
    InvalidHit: Answer(400, "invalid"),
    UnknownWindow: Answer(400, "invalid"),
    Unauthorized: Answer(401, "unauthorized"),
    ForeignOrigin: Answer(403, "origin"),
    RateLimited: Answer(429, "rate_limited"),
    PayloadTooLarge: Answer(413, "too_large"),
    UnsupportedEncoding: Answer(415, "unsupported_encoding"),
    RequestTimeout: Answer(408, "timeout"),
    QueueTimeout: Answer(503, "queue_timeout", "the queue cannot take hits now"),
    QueueFull: Answer(503, "queue_full", "the queue cannot take hits now"),
    QueueUnavailable: Answer(503, "queue_unavailable", "the queue cannot take hits now"),
    Unsupported: Answer(501, "unsupported"),
    StoreBusy: Answer(503, "store_busy", "the store cannot answer now"),
    StoreUnavailable: Answer(503, "store_unavailable", "the store cannot answer now"),
    # The store failed the request in a way retrying will not fix.
    StoreError: Answer(502, "store_error", "the store failed", logged=True),
}


def nearest(table: Mapping[type[Exception], T], error: BaseException) -> T | None:
    """What ``table`` gives the nearest class of ``error`` (a backend's subclass of a core error
    gets the core error's), or None when it names none of them."""
    for cls in type(error).__mro__:
        found = table.get(cls)
        if found is not None:
            return found
    return None


def answer_of(error: BaseException) -> Answer | None:
    """The answer to ``error`` (that of its nearest class in :data:`ANSWERS`), or None for a bug."""
    return nearest(ANSWERS, error)
