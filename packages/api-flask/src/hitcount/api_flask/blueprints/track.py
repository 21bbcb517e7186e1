"""Track: ``POST /analytics`` and ``POST /analytics/batch``, with CORS for browsers.

Each answers 204 only once the queue holds the request's hits (see
:mod:`hitcount.api_flask.batcher`); refusals are counted by reason.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from hitcount.api_flask import metrics
from hitcount.api_flask.errors import Rejected
from hitcount.api_flask.ingest import batch_hits, track_hits
from hitcount.api_flask.responses import no_content, rejection_response
from hitcount.api_flask.state import api_state
from hitcount.core import now_ns

track = Blueprint("track", __name__)


@track.post("/analytics", provide_automatic_options=False)
def track_one() -> Response:
    state = api_state()
    state.backends.batcher.submit(track_hits(request.environ, state.settings.max_body, now_ns()))
    return no_content()


@track.post("/analytics/batch", provide_automatic_options=False)
def track_batch() -> Response:
    state = api_state()
    state.backends.batcher.submit(batch_hits(request.environ, state.settings.max_body, now_ns()))
    return no_content()


@track.route("/analytics", methods=["OPTIONS"])
@track.route("/analytics/batch", methods=["OPTIONS"])
def preflight() -> Response:
    """The CORS preflight a browser sends before a cross-origin POST with a JSON content type."""
    response = no_content()
    response.headers.extend(api_state().cors.preflight_headers(request.headers.get("Origin")))
    return response


@track.after_request
def allow_origin(response: Response) -> Response:
    """Let allowed pages read every Track answer, errors included (preflights have theirs)."""
    if request.method != "OPTIONS":
        response.headers.extend(api_state().cors.headers(request.headers.get("Origin")))
    return response


@track.errorhandler(Rejected)
def rejected(error: Rejected) -> Response:
    metrics.record_rejection(error.reason, error.hits)
    return rejection_response(error)
