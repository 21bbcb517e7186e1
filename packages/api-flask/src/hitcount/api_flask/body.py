"""A Track request's body: read within the size limit, then gzip undone within it too.

werkzeug's :func:`~werkzeug.wsgi.get_input_stream` refuses a ``Content-Length`` over the
limit without reading the body and bounds a body that has none (chunked; the server
terminates the stream). It is given a limit one byte past ours so that such a body that
is too long shows itself by its length instead of being cut short. A gzip body is
inflated at most one byte past the limit, so a zip bomb costs nothing.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from hitcount.api_flask.errors import InvalidRequest, PayloadTooLarge, RequestTimeout, UnsupportedEncoding, echo

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

# A gzip stream: zlib's window bits plus 16 selects the gzip header and trailer.
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def read_body(environ: WSGIEnvironment, limit: int) -> bytes:
    """The request body with its ``Content-Encoding`` undone, whatever its Content-Type;
    :class:`PayloadTooLarge` when it has more than ``limit`` bytes, as sent or inflated, and
    :class:`RequestTimeout` when the server's input stream times out (the client's time to
    send its request is up: ``HITCOUNT_CLIENT_TIMEOUT`` with hitcount's worker)."""
    try:
        body = get_input_stream(environ, max_content_length=limit + 1).read()
    except RequestEntityTooLarge:
        raise PayloadTooLarge(f"body is over the limit of {limit} bytes") from None
    except (TimeoutError, ClientDisconnected) as error:
        # werkzeug reports an error of the stream it reads as a disconnection caused by it.
        if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
            raise RequestTimeout("the body did not arrive in time (HITCOUNT_CLIENT_TIMEOUT)") from None
        raise
    if len(body) > limit:
        raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
    return _decode(body, environ.get("HTTP_CONTENT_ENCODING"), limit)


def _decode(body: bytes, encoding: str | None, limit: int) -> bytes:
    """``body`` with its ``Content-Encoding`` undone; the result is at most ``limit`` bytes."""
    coding = (encoding or "identity").strip().lower()
    if coding == "identity":
        return body
    if coding not in {"gzip", "x-gzip"}:
        raise UnsupportedEncoding(f"Content-Encoding {echo(encoding)} is not supported; use gzip or identity")
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise InvalidRequest(f"body is not valid gzip: {error}") from None
    if len(data) > limit:
        raise PayloadTooLarge(f"gzip body inflates to over the limit of {limit} bytes")
    if not inflater.eof:
        raise InvalidRequest("gzip body is truncated")
    if inflater.unused_data:
        raise InvalidRequest("gzip body has data after its end")
    return data
