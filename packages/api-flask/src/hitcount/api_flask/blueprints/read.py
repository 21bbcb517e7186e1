"""Read: ``GET /analytics/<id>``, the counts of one id in every window, longest first.

An invalid id (core's ``InvalidHit``) and a store that cannot answer are answered by the
app's error table (:mod:`hitcount.api_flask.errors`).
"""

from __future__ import annotations

from flask import Blueprint, Response
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter

from hitcount.api_flask.responses import json_response
from hitcount.api_flask.state import api_state
from hitcount.core import now_ns
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
    validate_id(id)
    return json_response(api_state().backends.counts(id, now_ns()).to_json())
