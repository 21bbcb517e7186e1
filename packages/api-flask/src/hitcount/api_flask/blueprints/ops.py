"""Ops: liveness, readiness, Prometheus metrics and the OpenAPI document.

With ``HITCOUNT_READ_TOKENS`` set, ``/metrics`` needs a token and ``/readyz`` answers
its status to anyone (load balancers) but its checks' details (backend URLs, file
paths, errors) only to a caller with a token. Details never show a configured secret (a URL's
password), wherever a backend's words quote it.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from hitcount.api_flask import metrics
from hitcount.api_flask.openapi import openapi_document
from hitcount.api_flask.responses import JSON, json_response
from hitcount.api_flask.state import api_state

ops = Blueprint("ops", __name__)
OPENAPI = openapi_document()


@ops.get("/healthz")
def healthz() -> Response:
    """The process is alive and serving; says nothing of the backends."""
    return json_response({"status": "ok"})


@ops.get("/readyz")
def readyz() -> Response:
    """Ready (200) while Track can take hits: into the queue, or into the spool while the queue is down.

    Any failing check makes the API ``degraded`` but not unready: with the queue down hits
    are spooled, with the store or the cache down reads answer the last counts kept.
    """
    state = api_state()
    checks = state.backends.health()
    ready = checks["queue"].ok or checks["spool"].ok
    body: dict[str, object] = {"ready": ready, "degraded": not all(health.ok for health in checks.values())}
    if state.access.authenticated(request.headers.get("Authorization")):
        body["checks"] = {
            name: {"ok": health.ok, "detail": state.secrets.mask(health.detail)} for name, health in checks.items()
        }
    return json_response(body, 200 if ready else 503)


@ops.get("/metrics")
def prometheus() -> Response:
    api_state().access.check(request.headers.get("Authorization"))
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)


@ops.get("/openapi.json")
def openapi() -> Response:
    return Response(OPENAPI, content_type=JSON)
