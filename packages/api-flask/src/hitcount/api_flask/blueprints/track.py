"""Track's URL rules and its CORS preflight.

``POST /analytics`` and ``POST /analytics/batch`` are answered by
:class:`~hitcount.api_flask.front.TrackFront` before Flask sees them; their rules are
here without views so that Flask's routing knows them: a preflight is answered below,
another method gets a 405 whose ``Allow`` lists POST, and the URL map still holds every
route the OpenAPI document describes.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from hitcount.api_flask.front import TRACK_ENDPOINTS
from hitcount.api_flask.responses import no_content
from hitcount.api_flask.state import api_state

track = Blueprint("track", __name__)


def preflight() -> Response:
    """The CORS preflight a browser sends before a cross-origin POST with a JSON content type."""
    response = no_content()
    response.headers.extend(api_state().cors.preflight_headers(request.headers.get("Origin")))
    return response


for _endpoint in TRACK_ENDPOINTS:
    track.add_url_rule(_endpoint.path, _endpoint.endpoint, methods=["POST"], provide_automatic_options=False)
    track.add_url_rule(_endpoint.path, "preflight", preflight, methods=["OPTIONS"])
