"""The refusals request handling raises, each carrying its HTTP answer.

They are plain exceptions, not werkzeug ones, so that parsing and hand-off stay
independent of Flask: any front (the Flask app, or a bare WSGI fast path) turns a
:class:`Rejected` into the same JSON answer with :meth:`Rejected.body`.
"""

from __future__ import annotations

from typing import ClassVar

import orjson

# Seconds a client should wait before retrying after a 503.
RETRY_AFTER = "1"


class Rejected(Exception):
    """A request refused with ``status``; ``reason`` labels it in the rejection metric.

    ``hits`` is how many hits the refused request carried, when that is known.
    """

    status: ClassVar[int] = 400
    reason: ClassVar[str] = "invalid"

    def __init__(self, message: str, hits: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hits = hits

    def details(self) -> dict[str, object]:
        """The JSON answer's fields; every answer has a ``message``."""
        return {"message": self.message}

    def headers(self) -> list[tuple[str, str]]:
        """Headers the answer needs besides ``Content-Type``."""
        return []

    def body(self) -> bytes:
        return orjson.dumps(self.details())


class InvalidRequest(Rejected):
    """The body or the id breaks the API's rules (400)."""


class InvalidItems(InvalidRequest):
    """Some items of a batch are invalid; none of the batch is taken (400 naming their indexes)."""

    def __init__(self, errors: dict[int, str], hits: int) -> None:
        indexes = ", ".join(str(index) for index in errors)
        super().__init__(f"invalid batch items at indexes {indexes}; nothing of the batch was recorded", hits)
        self.errors = errors

    def details(self) -> dict[str, object]:
        errors = [{"index": index, "message": message} for index, message in self.errors.items()]
        return {"message": self.message, "errors": errors}


class PayloadTooLarge(Rejected):
    """The body, as sent or decompressed, is over ``HITCOUNT_MAX_BODY`` (413)."""

    status = 413
    reason = "too_large"


class UnsupportedEncoding(Rejected):
    """A ``Content-Encoding`` other than gzip or identity (415)."""

    status = 415
    reason = "unsupported_encoding"


class Unavailable(Rejected):
    """A backend cannot serve now; the client should retry after ``Retry-After`` seconds (503)."""

    status = 503
    reason = "unavailable"

    def headers(self) -> list[tuple[str, str]]:
        return [("Retry-After", RETRY_AFTER)]


class QueueUnavailable(Unavailable):
    """The queue refused the hits or failed (backend down, full)."""

    reason = "queue_unavailable"


class QueueTimeout(Unavailable):
    """The queue did not take the hits within ``HITCOUNT_API_ENQUEUE_TIMEOUT``."""

    reason = "queue_timeout"
