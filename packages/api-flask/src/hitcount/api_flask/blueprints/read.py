"""Read: ``GET /analytics/<id>``, the counts of one id in every window, longest first;
``GET /hours/<id>``, its hits per hour over the last three days;
``GET /analytics?window=&limit=&prefix=``, the ids with the most hits in a window (or of all
time); and ``GET /badge.svg?id=<id>``, the count of one window drawn as a badge
(:mod:`hitcount.api_flask.badge`).

A client address over ``HITCOUNT_READ_RATE_LIMIT`` gets 429 before anything else is
looked at (:mod:`hitcount.api_flask.ratelimit`): every read of an id not cached costs a
store search. Counts come from :class:`~hitcount.api_flask.reader.Reader`: fresh ones say how long a
client may keep them (``Cache-Control: max-age``), stale ones how old they are (``Age``);
those that took a token are ``private``, kept by no shared cache.
With ``HITCOUNT_READ_TOKENS`` set, only ids of ``HITCOUNT_PUBLIC_IDS`` are read without a
token (:mod:`hitcount.api_flask.access`), checked before anything else so that a caller
without one learns nothing of the id. The id is normalised once, as it enters
(:func:`_readable`), and the access check, the CORS headers, the badge and the read all take
that one form. A missing token, an invalid id (core's ``InvalidHit``) and a store that
cannot answer with no counts kept are answered by the app's error table
(:mod:`hitcount.api_flask.errors`): in JSON, or for a badge, with the status and headers
of that answer, as an SVG badge saying what is wrong (an ``<img>`` shows no JSON).
A badge's ``window`` is a window's short name (``1h``), its reference or ``total`` (every hit ever
counted), its ``metric`` what it shows of that window (:data:`~hitcount.api_flask.badge.METRICS`).
Answers carry CORS headers (:meth:`~hitcount.api_flask.cors.CorsPolicy.read_headers`) so that the live counters of
``/hitcount.js`` work on pages of other origins: those ``HITCOUNT_CORS_ORIGINS`` lists, or
any, for public ids. A read is never refused for its origin: whoever may read an id may do
so from anywhere but a browser anyway.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, g, request
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter

from hitcount.api_flask import badge
from hitcount.api_flask.access import ReadId, read_id
from hitcount.api_flask.errors import InvalidRequest, Rejected, echo
from hitcount.api_flask.reader import Reading
from hitcount.api_flask.responses import error_response, json_response
from hitcount.api_flask.state import api_state
from hitcount.core import Counts, HitcountError, InvalidHit, Window, now_ns
from hitcount.core.ranking import MAX_LIMIT, Ranking
from hitcount.core.windows import LONGEST, window_or_total

SVG = "image/svg+xml"
# Nothing of a badge runs or loads: opened as a document, its SVG may not either.
BADGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'"

# Ids a ranking names unless the query says; ids ranked for a caller without a token, among which it
# finds those it may see.
DEFAULT_RANKED = 10
PUBLIC_RANKED = 1_000

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


def _limit_reads() -> None:
    """429 for a client address over ``HITCOUNT_READ_RATE_LIMIT``, before anything else is looked at."""
    state = api_state()
    if state.read_limiter is not None:
        state.read_limiter.check(state.proxies.client(request.environ))


def _readable(text: str) -> ReadId:
    """The id ``text`` names, as it is read (normal form C, as every hit's id is stored), once
    the caller may read it.

    Made before anything is decided on the id, and kept for :func:`allow_origins`: deciding
    on ``text`` would let ``blog\u0301-secret`` pass ``blog*`` and then read ``blo\u01f5-secret``.
    An invalid id is refused like a private one to a caller without a token, so that it
    learns nothing of it.
    """
    state = api_state()
    _limit_reads()
    authorization = request.headers.get("Authorization")
    try:
        id = read_id(text)
    except InvalidHit:
        state.access.check(authorization)
        raise
    g.read_id = id
    state.access.check(authorization, id)
    return id


def _with_freshness(response: Response, reading: Reading[Any], private: bool) -> Response:
    """Fresh counts may be kept for the read max age; stale ones say how old they are and may not.

    Counts that took a token are the caller's alone (``private``): a shared cache (a proxy, a
    CDN) that kept them would hand them to callers without one.
    """
    state = api_state()
    response.headers["Age"] = str(int(reading.age))
    freshness = f"max-age={int(state.tuning.read_max_age)}" if reading.fresh else "no-cache"
    response.headers["Cache-Control"] = f"private, {freshness}" if private else freshness
    return response


@read.get("/analytics/<id:id>")
def counts(id: str) -> Response:
    readable = _readable(id)
    reading = api_state().reader.read(readable)
    return _with_freshness(json_response(reading.value.to_json()), reading, api_state().access.needs_token(readable))


@read.get("/hours/<id:id>")
def hours(id: str) -> Response:
    """The hits of ``id`` in each UTC hour of the last three days, oldest first: the dashboard's chart."""
    readable = _readable(id)
    reading = api_state().reader.hours(readable)
    return _with_freshness(json_response(reading.value.to_json()), reading, api_state().access.needs_token(readable))


@read.get("/analytics")
def ranking() -> Response:
    """The ``limit`` ids of ``prefix`` with the most hits in ``window`` (its name or reference, or
    ``total``; default the longest), most first: every id for a caller with a token (or when none is
    set), else only ids of ``HITCOUNT_PUBLIC_IDS``, looked for among the :data:`PUBLIC_RANKED` first,
    the others left out unseen."""
    state = api_state()
    _limit_reads()
    window = window_or_total(request.args.get("window", LONGEST.name))
    limit = _ranking_limit(request.args.get("limit", str(DEFAULT_RANKED)))
    prefix = _ranking_prefix(request.args.get("prefix", ""))
    if not state.access.needs_token() or state.access.authenticated(request.headers.get("Authorization")):
        reading = state.reader.rank(window, prefix, limit)
        return _with_freshness(json_response(reading.value.to_json()), reading, state.access.needs_token())
    if not state.access.public_ids:  # nothing to look for: spare the store the search
        return json_response(Ranking(window, prefix, now_ns(), ()).to_json())
    reading = state.reader.rank(window, prefix, PUBLIC_RANKED)
    public = reading.value.only(lambda id: state.access.public(read_id(id)), limit)
    return _with_freshness(json_response(public.to_json()), reading, private=False)


def _ranking_limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {echo(text)}")
    return int(text)


def _ranking_prefix(text: str) -> str:
    """The prefix as ids are stored (normal form C), or empty; :class:`InvalidRequest` for one no id may start with."""
    if not text:
        return ""
    try:
        return read_id(text)
    except InvalidHit as error:
        raise InvalidRequest(f"prefix {echo(text)} cannot start an id: {error}") from None


@read.get("/badge.svg")
def count_badge() -> Response:
    """The ``metric`` (default the count) of ``id`` in ``window`` (default the longest), beside ``label``
    (default the metric's: "hits", "visitors"), or, when it cannot be shown, a badge saying why, with
    the status and headers of the error's answer."""
    try:
        id, window, metric, label, reading = _badge_reading()
    except (Rejected, HitcountError) as error:
        answer = error_response(error)  # the status, headers and log line of the error table
        message = orjson.loads(answer.get_data())["message"]
        return _as_badge(Response(badge.render_error(error, message), answer.status, answer.headers))
    response = _as_badge(Response(badge.render_count(label, metric.of(reading.value, window))))
    return _with_freshness(response, reading, api_state().access.needs_token(id))


def _badge_reading() -> tuple[ReadId, Window | None, badge.Metric, str, Reading[Counts]]:
    """The id, window, metric and label a badge's query names, and the id's counts."""
    text = request.args.get("id")
    if not text:
        raise badge.MissingId()
    id = _readable(text)  # first, so that the CORS headers of every answer about it are the id's
    window = window_or_total(request.args.get("window", LONGEST.name))
    metric = badge.parse_metric(request.args.get("metric"))
    label = badge.parse_label(request.args.get("label"), metric)
    return id, window, metric, label, api_state().reader.read(id)


def _as_badge(response: Response) -> Response:
    response.content_type = SVG
    response.headers["Content-Security-Policy"] = BADGE_POLICY
    # A page on any origin may show it, cross-origin isolated ones included.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@read.after_request
def allow_origins(response: Response) -> Response:
    state = api_state()
    id: ReadId | None = g.get("read_id")  # None when no valid id was read
    public = id is not None and state.access.public(id)
    response.headers.extend(state.cors.read_headers(request.headers.get("Origin"), public))
    return response
