"""JSON answers: every body the API sends, errors included, is JSON."""

from __future__ import annotations

import logging

import orjson
from flask import Response

from hitcount.api_flask.errors import Rejected

JSON = "application/json"
log = logging.getLogger(__name__)


class _Empty(Response):
    """An answer without a body, so without a Content-Type either."""

    default_mimetype = None


def no_content() -> Response:
    """204: the request did what it asked."""
    return _Empty(status=204)


def json_response(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, content_type=JSON)


def rejection_response(error: Rejected) -> Response:
    """``{"message": ...}`` (plus details) with the refusal's status and headers."""
    response = Response(error.body(), status=error.status, content_type=JSON)
    response.headers.extend(error.headers())
    return response


def unexpected_error(error: Exception) -> Response:
    """A bug: log it with its traceback and answer a JSON 500 without details."""
    log.exception("unhandled error")
    return json_response({"message": "internal error; it was logged"}, 500)
