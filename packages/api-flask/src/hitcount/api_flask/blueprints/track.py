"""Track: ``POST /analytics`` (one hit) and ``POST /analytics/batch`` (1 to 1,000), and their CORS.

A hit is answered 204 only once the queue holds it (:func:`~hitcount.api_flask.ingest.ingest`).
Every answer of these endpoints, preflights and errors included, carries the CORS headers
of ``HITCOUNT_CORS_ORIGINS``, so that a page on another origin can read why it was refused.
By default the WSGI front (:mod:`hitcount.api_flask.front`) answers the POSTs before Flask
and these views see only what it does not recognise; they answer alike.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, request

from hitcount.api_flask.ingest import TRACK_ENDPOINTS, ingest
from hitcount.api_flask.responses import no_content
from hitcount.api_flask.state import api_state
from hitcount.core import Hit

track = Blueprint("track", __name__)


def _view(parse: Callable[[bytes, int], list[Hit]]) -> Callable[[], Response]:
    def view() -> Response:
        ingest(api_state(), parse, request.environ)
        return no_content()

    return view


def preflight() -> Response:
    """The CORS preflight a browser sends before a cross-origin POST with a JSON content type."""
    response = no_content()
    response.headers.extend(api_state().cors.preflight_headers(request.headers.get("Origin")))
    return response


for _endpoint in TRACK_ENDPOINTS:
    track.add_url_rule(
        _endpoint.path, _endpoint.endpoint, _view(_endpoint.parse), methods=["POST"], provide_automatic_options=False
    )
    track.add_url_rule(_endpoint.path, "preflight", preflight, methods=["OPTIONS"])


@track.after_request
def allow_origins(response: Response) -> Response:
    response.headers.extend(api_state().cors.headers(request.headers.get("Origin")))
    return response
