"""Track: ``POST /analytics`` (one hit), ``POST /analytics/batch`` (1 to 1,000) and their CORS preflights.

Answered at the WSGI level, in front of Flask: under single-hit traffic a worker has a few
dozen microseconds of its own per request, and Flask's request context, routing, response
object and hooks cost more than the Track work itself (through Flask views the API took far
more CPU per hit: BENCHMARKS.md, "Track: Flask views or the WSGI front"). The price is that
Flask's ``before_request`` hooks, extensions and instrumentation never see Track.

Flask's url map still holds the Track routes, without views, so that it stays the one table
of the API's routes: another method on a Track path gets Flask's 405 with its ``Allow``, and
``GET /analytics/batch`` reads the id ``batch``. Every Track answer, preflights and errors
included, carries the CORS headers of ``HITCOUNT_CORS_ORIGINS`` (added here and nowhere
else), so that a page on another origin can read why it was refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from hitcount.api_flask.ingest import TRACK_ENDPOINTS, ingest
from hitcount.api_flask.responses import error_response
from hitcount.api_flask.state import ApiState

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

TRACK_METHODS = ("POST", "OPTIONS")
# The status line werkzeug writes for a 204, so that every 204 of the API reads alike.
NO_CONTENT = f"204 {HTTP_STATUS_CODES[204].upper()}"


def serve_track(app: Flask, state: ApiState) -> None:
    """Put the Track routes in ``app``'s url map and the front that answers them before ``app``."""
    for endpoint in TRACK_ENDPOINTS:
        app.add_url_rule(endpoint.path, endpoint.endpoint, methods=TRACK_METHODS)
    app.wsgi_app = TrackFront(app.wsgi_app, state)  # type: ignore[method-assign]


class TrackFront:
    """A WSGI app answering Track itself and passing every other request to ``app`` (Flask's)."""

    def __init__(self, app: WSGIApplication, state: ApiState) -> None:
        self._app = app
        self._state = state
        self._parsers = {endpoint.path: endpoint.parse for endpoint in TRACK_ENDPOINTS}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Matched as werkzeug routes: the method in any case, leading slashes taken as one.
        path = environ.get("PATH_INFO")
        parse = self._parsers.get("/" + path.lstrip("/")) if path else None
        method = environ["REQUEST_METHOD"].upper()
        if parse is None or method not in TRACK_METHODS:
            return self._app(environ, start_response)
        origin = environ.get("HTTP_ORIGIN")
        cors = self._state.cors.headers(origin)
        if method == "OPTIONS":
            start_response(NO_CONTENT, [*self._state.cors.preflight_headers(origin), *cors])
            return []
        try:
            ingest(self._state, parse, environ)
        except Exception as error:
            response = error_response(error)
        else:
            start_response(NO_CONTENT, cors)
            return []
        response.headers.extend(cors)
        return response(environ, start_response)
