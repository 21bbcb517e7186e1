"""Read: ``GET /analytics/<id>``, the counts of one id in every window, longest first.

Counts come from :class:`~hitcount.api_flask.reader.Reader`: fresh ones say how long a
client may keep them (``Cache-Control: max-age``), stale ones how old they are (``Age``).
With ``HITCOUNT_READ_TOKENS`` set, only ids of ``HITCOUNT_PUBLIC_IDS`` are read without a
token (:mod:`hitcount.api_flask.access`), checked before anything else so that a caller
without one learns nothing of the id. A missing token, an invalid id (core's
``InvalidHit``) and a store that cannot answer with no counts kept are answered by the
app's error table (:mod:`hitcount.api_flask.errors`).
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter

from hitcount.api_flask.responses import json_response
from hitcount.api_flask.state import api_state
from hitcount.core.hit import validate_id

read = Blueprint("read", __name__)


class IdConverter(PathConverter):
    """Any non-empty rest of the path, slashes and newlines included, so that every id can be read
    back (URL-encoded) and an id with control characters gets 400 rather than 404.

    A leading slash too: WSGI servers decode ``%2F`` in ``PATH_INFO``, so the id ``/docs/intro``
    (``GET /analytics/%2Fdocs%2Fintro``) arrives as ``/analytics//docs/intro``, and the rest of
    the path after ``/analytics/`` is the id whichever way its slashes were written.
    """

    regex = "(?s:.+?)"
    # werkzeug takes a regex without "/" for one that matches within a segment.
    part_isolating = False


@read.record_once
def add_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["id"] = IdConverter


@read.get("/analytics/<id:id>")
def counts(id: str) -> Response:
    state = api_state()
    state.access.check(request.headers.get("Authorization"), id)
    id = validate_id(id)  # in normal form C, as every hit's id is stored
    reading = state.reader.read(id)
    response = json_response(reading.counts.to_json())
    response.headers["Age"] = str(int(reading.age))
    if reading.fresh:
        response.headers["Cache-Control"] = f"max-age={int(state.settings.read_max_age)}"
    else:
        response.headers["Cache-Control"] = "no-cache"
    return response
