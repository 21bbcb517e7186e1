"""The Track POSTs, answered at the WSGI level in front of Flask; every other request goes on to Flask.

At 10,000 hits/s a worker has a few dozen microseconds of its own per request, and
Flask's request context, routing, response object and hooks took about a fifth of a
worker's time under wrk (py-spy), more than parsing, validating and handing off the hit
together. So ``POST /analytics`` and ``POST /analytics/batch`` never enter Flask: this
front reads the environ with :mod:`~hitcount.api_flask.ingest`, hands the hits to the
batcher, and answers with the very statuses, headers (CORS included), JSON bodies and
metrics a Flask view would. Flask keeps the URL rules of these endpoints (see
:mod:`~hitcount.api_flask.blueprints.track`), so that it answers their preflights and
their other methods' 405s, with ``Allow``, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.http import HTTP_STATUS_CODES

from hitcount.api_flask import metrics
from hitcount.api_flask.errors import Rejected
from hitcount.api_flask.ingest import batch_hits, track_hits
from hitcount.api_flask.responses import rejection_response, unexpected_error
from hitcount.api_flask.state import ApiState
from hitcount.core import Hit, now_ns

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The status line werkzeug writes for a 204, so that an answer reads the same from either side.
NO_CONTENT = f"204 {HTTP_STATUS_CODES[204].upper()}"


@dataclass(frozen=True)
class TrackEndpoint:
    """One Track endpoint: its path, its Flask endpoint name and how its body becomes hits."""

    path: str
    endpoint: str
    hits: Callable[[Mapping[str, Any], int, int], list[Hit]]


TRACK_ENDPOINTS = (
    TrackEndpoint("/analytics", "track_one", track_hits),
    TrackEndpoint("/analytics/batch", "track_batch", batch_hits),
)


class TrackFront:
    """A WSGI app answering the Track POSTs itself and passing every other request to ``app`` (Flask's)."""

    def __init__(self, app: WSGIApplication, state: ApiState) -> None:
        self._app = app
        self._state = state
        self._endpoints = {endpoint.path: endpoint.hits for endpoint in TRACK_ENDPOINTS}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Matched as werkzeug routes: the method in any case, leading slashes taken as one.
        path = environ.get("PATH_INFO")
        hits = self._endpoints.get("/" + path.lstrip("/")) if path else None
        if hits is None or environ["REQUEST_METHOD"].upper() != "POST":
            return self._app(environ, start_response)
        state = self._state
        cors = state.cors.headers(environ.get("HTTP_ORIGIN"))
        try:
            state.backends.batcher.submit(hits(environ, state.settings.max_body, now_ns()))
        except Rejected as error:
            metrics.record_rejection(error.reason, error.hits)
            response = rejection_response(error)
        except Exception as error:
            response = unexpected_error(error)
        else:
            start_response(NO_CONTENT, cors)
            return []
        response.headers.extend(cors)
        return response(environ, start_response)
