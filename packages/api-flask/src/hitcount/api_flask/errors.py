"""Every error a request can meet, and the one table that turns each into an HTTP answer.

Backends raise core's errors (:mod:`hitcount.core.errors`); the API adds only what is
its own: the refusals of a request's body (:class:`Rejected` and its subclasses) and the
queue's deadline (:class:`QueueTimeout`, a kind of core's ``QueueUnavailable``).
:data:`ANSWERS` gives each its status, the label of the rejection metric and the words
that open its message; :func:`answer_of` looks an error up through its class hierarchy,
so a backend's own subclass of a core error is answered like that error.
"""

from __future__ import annotations

from dataclasses import dataclass

from hitcount.core import InvalidHit, QueueFull, QueueUnavailable, StoreError, StoreUnavailable

# Seconds a client should wait before retrying after a 503.
RETRY_AFTER = "1"


class Rejected(Exception):
    """A request refused before any backend saw it; ``hits`` is how many hits it carried."""

    def __init__(self, message: str, hits: int = 1) -> None:
        super().__init__(message)
        self.hits = hits

    def details(self) -> dict[str, object]:
        """Fields of the JSON answer besides ``message``."""
        return {}


class InvalidRequest(Rejected):
    """The body or the id breaks the API's rules."""


class InvalidItems(InvalidRequest):
    """Some items of a batch are invalid; none of the batch is taken, and the answer names their indexes."""

    def __init__(self, errors: dict[int, str], hits: int) -> None:
        indexes = ", ".join(str(index) for index in errors)
        super().__init__(f"invalid batch items at indexes {indexes}; nothing of the batch was recorded", hits)
        self.errors = errors

    def details(self) -> dict[str, object]:
        return {"errors": [{"index": index, "message": message} for index, message in self.errors.items()]}


class PayloadTooLarge(Rejected):
    """The body, as sent or decompressed, is over ``HITCOUNT_MAX_BODY``."""


class UnsupportedEncoding(Rejected):
    """A ``Content-Encoding`` other than gzip or identity."""


class RequestTimeout(Rejected):
    """The body did not arrive within ``HITCOUNT_CLIENT_TIMEOUT``."""


class QueueTimeout(QueueUnavailable):
    """The queue did not take the hits within ``HITCOUNT_API_ENQUEUE_TIMEOUT``."""


@dataclass(frozen=True)
class Answer:
    """How the API answers one kind of error."""

    status: int
    # The label of hitcount_api_hits_rejected when a Track request meets it.
    reason: str
    # What the message says before the error's own words, for errors that come from a backend.
    context: str | None = None
    # Worth an operator's attention: logged with the error.
    logged: bool = False

    @property
    def headers(self) -> list[tuple[str, str]]:
        """A 503 tells the client when to try again."""
        return [("Retry-After", RETRY_AFTER)] if self.status == 503 else []

    def message(self, error: Exception) -> str:
        return f"{self.context}: {error}" if self.context else str(error)


ANSWERS: dict[type[Exception], Answer] = {
    InvalidRequest: Answer(400, "invalid"),
    InvalidHit: Answer(400, "invalid"),
    PayloadTooLarge: Answer(413, "too_large"),
    UnsupportedEncoding: Answer(415, "unsupported_encoding"),
    RequestTimeout: Answer(408, "timeout"),
    QueueTimeout: Answer(503, "queue_timeout", "the queue cannot take hits now"),
    QueueFull: Answer(503, "queue_full", "the queue cannot take hits now"),
    QueueUnavailable: Answer(503, "queue_unavailable", "the queue cannot take hits now"),
    StoreUnavailable: Answer(503, "store_unavailable", "the store cannot answer now"),
    # The store failed the request in a way retrying will not fix.
    StoreError: Answer(502, "store_error", "the store failed", logged=True),
}


def answer_of(error: BaseException) -> Answer | None:
    """The answer to ``error`` (that of its nearest class in :data:`ANSWERS`), or None for a bug."""
    for cls in type(error).__mro__:
        answer = ANSWERS.get(cls)
        if answer is not None:
            return answer
    return None
