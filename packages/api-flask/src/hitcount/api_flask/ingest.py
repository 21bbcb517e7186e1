"""From a Track request's WSGI environ to validated hits, independent of any web framework.

:class:`~hitcount.api_flask.front.TrackFront` calls these before Flask sees the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hitcount.api_flask.body import decode_content, read_body
from hitcount.api_flask.parsing import parse_batch, parse_track
from hitcount.core import Hit


def request_json(environ: Mapping[str, Any], limit: int) -> bytes:
    """The body of a Track request, whatever its Content-Type, decompressed, at most ``limit`` bytes."""
    return decode_content(read_body(environ, limit), environ.get("HTTP_CONTENT_ENCODING"), limit)


def track_hits(environ: Mapping[str, Any], limit: int, now: int) -> list[Hit]:
    """The hit of ``POST /analytics``."""
    return parse_track(request_json(environ, limit), now)


def batch_hits(environ: Mapping[str, Any], limit: int, now: int) -> list[Hit]:
    """The hits of ``POST /analytics/batch``."""
    return parse_batch(request_json(environ, limit), now)
