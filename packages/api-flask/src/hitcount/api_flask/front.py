"""The Track POSTs, answered at the WSGI level in front of Flask (``HITCOUNT_API_TRACK_FRONT``, on by default).

Under single-hit traffic a worker has a few dozen microseconds of its own per request,
and Flask's request context, routing, response object and hooks cost more than the
Track work itself: in the production shape the views took about twice the API's CPU per
hit of this front (BENCHMARKS.md). So by default ``POST /analytics`` and
``POST /analytics/batch`` never enter Flask: this front does the views' work
(:func:`~hitcount.api_flask.ingest.ingest`) and answers from the same error table with the
same statuses, headers (CORS included) and bodies, byte for byte. A request it does not
recognise goes on to Flask, whose Track views answer it alike.

The price: Flask's ``before_request`` hooks, extensions and instrumentation do not see the
Track POSTs. ``HITCOUNT_API_TRACK_FRONT=off`` lets Flask answer them, at that CPU cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.http import HTTP_STATUS_CODES

from hitcount.api_flask.ingest import TRACK_ENDPOINTS, ingest
from hitcount.api_flask.responses import error_response
from hitcount.api_flask.state import ApiState

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The status line werkzeug writes for a 204, so that an answer reads the same from either side.
NO_CONTENT = f"204 {HTTP_STATUS_CODES[204].upper()}"


class TrackFront:
    """A WSGI app answering the Track POSTs itself and passing every other request to ``app`` (Flask's)."""

    def __init__(self, app: WSGIApplication, state: ApiState) -> None:
        self._app = app
        self._state = state
        self._parsers = {endpoint.path: endpoint.parse for endpoint in TRACK_ENDPOINTS}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Matched as werkzeug routes: the method in any case, leading slashes taken as one.
        path = environ.get("PATH_INFO")
        parse = self._parsers.get("/" + path.lstrip("/")) if path else None
        if parse is None or environ["REQUEST_METHOD"].upper() != "POST":
            return self._app(environ, start_response)
        cors = self._state.cors.headers(environ.get("HTTP_ORIGIN"))
        try:
            ingest(self._state, parse, environ)
        except Exception as error:
            response = error_response(error)
        else:
            start_response(NO_CONTENT, cors)
            return []
        response.headers.extend(cors)
        return response(environ, start_response)
