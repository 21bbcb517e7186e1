"""A Track POST's work, apart from how the WSGI front (:mod:`hitcount.api_flask.front`) answers it.

From the WSGI environ to hits in the queue: the client's address within its rate limit,
the page's origin one ``HITCOUNT_CORS_ORIGINS`` admits, the body read within the limit,
parsed by the endpoint's parser, handed to the worker's group commit unless they are left out
(:mod:`hitcount.api_flask.drops`: a bot's, a prefetch's, and so on, answered as if counted); a
refusal is counted in the rejection metric and raised for the caller to answer from the error table.

A refused origin is logged too, naming it and the setting: the page cannot read why it was
refused (the answer has no CORS headers for it, so its browser shows only a failed request),
so its operator learns it here. Every view of such a page is refused alike, so the line is
a recurring one (core's ``RecurringLog``), a few a minute however many views.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hitcount.api_flask import metrics
from hitcount.api_flask.body import read_body
from hitcount.api_flask.errors import ForeignOrigin, Rejected, answer_of, echo
from hitcount.api_flask.parsing import Keying, no_key, parse_batch, parse_track
from hitcount.api_flask.state import ApiState
from hitcount.core import Hit, HitcountError, now_ns
from hitcount.core.logs import RecurringLog

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


# How an endpoint's body becomes hits: the body, the time it came, the request's visitor keying.
Parser = Callable[[bytes, int, Keying], list[Hit]]


@dataclass(frozen=True)
class TrackEndpoint:
    """One Track endpoint: its path, its Flask endpoint name and how its body becomes hits."""

    path: str
    endpoint: str
    parse: Parser


log = logging.getLogger(__name__)
# One condition for every refused origin: an origin is the request's to choose, so a condition
# per origin would let requests grow the log's memory without bound.
_refused_origins = RecurringLog(log)

TRACK_ENDPOINTS = (
    TrackEndpoint("/analytics", "track_one", parse_track),
    TrackEndpoint("/analytics/batch", "track_batch", parse_batch),
)


def ingest(state: ApiState, parse: Parser, environ: WSGIEnvironment) -> None:
    """Return once the queue holds the hits ``parse`` finds in the request's body, or once they are left out.

    A left-out request is read and parsed like any other, so that it is refused alike when
    it is malformed (whoever sends it learns nothing of the verdict) and its hits counted in the metric.
    """
    now = now_ns()
    try:
        _admit(state, environ)
        body = read_body(environ, state.tuning.max_body)
        if (reason := state.drops.reason(environ)) is not None:
            metrics.record_drop(reason, len(parse(body, now, no_key)))
            return
        visitor = state.visitors.of_request(environ, now)
        hits = parse(body, now, visitor)
    except Rejected as error:
        _count_rejection(error, error.hits)
        raise
    if state.visitors.missing(visitor):
        metrics.record_without_visitor(len(hits))
    try:
        state.batcher.submit(hits)
    except HitcountError as error:
        _count_rejection(error, len(hits))
        raise


def _admit(state: ApiState, environ: WSGIEnvironment) -> None:
    """Refuse, before reading its body, a request over its address's rate limit or from a foreign page."""
    if state.limiter is not None:
        state.limiter.check(state.proxies.client(environ))
    origin: str | None = environ.get("HTTP_ORIGIN")
    if not state.cors.admits(origin):
        _refused_origins.note(
            "origin",
            f"refused the hits of a page of {echo(origin)}: HITCOUNT_CORS_ORIGINS does not list its origin"
            " (add it there for its pages to be counted)",
        )
        raise ForeignOrigin(f"origin {echo(origin)} may not send hits: HITCOUNT_CORS_ORIGINS does not list it")


def _count_rejection(error: Exception, hits: int) -> None:
    answer = answer_of(error)
    if answer is not None:
        metrics.record_rejection(answer.reason, hits)
