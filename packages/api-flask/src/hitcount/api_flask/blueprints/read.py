"""Read: ``GET /analytics/<id>``, the counts of one id in every window, longest first."""

from __future__ import annotations

from flask import Blueprint, Response
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter

from hitcount.api_flask.errors import InvalidRequest, Unavailable
from hitcount.api_flask.responses import json_response
from hitcount.api_flask.state import api_state
from hitcount.core import InvalidHit, StoreUnavailable, now_ns
from hitcount.core.hit import validate_id

read = Blueprint("read", __name__)


class IdConverter(PathConverter):
    """Any non-empty rest of the path, slashes and newlines included, so that every id can be read
    back (URL-encoded) and an id with control characters gets 400 rather than 404."""

    regex = "(?s:[^/].*?)"


@read.record_once
def add_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["id"] = IdConverter


@read.get("/analytics/<id:id>")
def counts(id: str) -> Response:
    try:
        validate_id(id)
    except InvalidHit as error:
        raise InvalidRequest(str(error)) from None
    try:
        answer = api_state().backends.counts(id, now_ns())
    except StoreUnavailable as error:
        raise Unavailable(f"the store cannot answer now: {error}") from None
    return json_response(answer.to_json())
