"""JSON answers: every body the API sends, errors included, is JSON."""

from __future__ import annotations

import logging

import orjson
from flask import Response
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from hitcount.api_flask.errors import Rejected, answer_of
from hitcount.core.logs import RecurringLog

JSON = "application/json"
log = logging.getLogger(__name__)


def json_response(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, content_type=JSON)


def error_response(error: Exception) -> Response:
    """The answer :data:`~hitcount.api_flask.errors.ANSWERS` gives ``error``: ``{"message": ...}``
    (plus a batch's item errors) with its status and headers; an error it does not list is a bug."""
    answer = answer_of(error)
    if answer is None:
        return unexpected_error(error)
    message = answer.message(error)
    if answer.logged:
        log.error("answered %d: %s: %s", answer.status, message, error, exc_info=error)
    elif answer.context is not None:
        _backend_log.note(answer.reason, f"answering {answer.status} ({answer.reason}): {message}: {error}")
    details, headers = (error.details(), error.headers()) if isinstance(error, Rejected) else ({}, [])
    response = json_response({"message": message, **details}, answer.status)
    response.headers.extend([*answer.headers, *headers])
    return response


# A backend's failure answered to clients is logged at most once a minute and kind of answer:
# an outage answers thousands of requests a second, alike.
_backend_log = RecurringLog(log)


def http_error(error: HTTPException) -> BaseResponse:
    """Routing and protocol errors (404, 405, ...) as ``{"message": ...}``, keeping their headers (``Allow``)."""
    response = error.get_response()
    response.set_data(orjson.dumps({"message": error.description or error.name}))
    response.content_type = JSON
    return response


def unexpected_error(error: Exception) -> Response:
    """A bug: log it with its traceback and answer a JSON 500 without details."""
    log.exception("unhandled error", exc_info=error)
    return json_response({"message": "internal error; it was logged"}, 500)
