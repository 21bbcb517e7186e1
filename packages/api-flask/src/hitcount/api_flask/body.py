"""A Track request's body: read within the size limit, then gzip undone within it too.

Read as PEP 3333 has it: ``CONTENT_LENGTH`` bytes of ``wsgi.input`` (a length over the limit
is refused unread), or, where the server says the stream ends by itself
(``wsgi.input_terminated``: chunked bodies), up to one byte past the limit, so that a body
that is too long shows itself by its length instead of being cut short. A gzip body is
inflated at most one byte past the limit, so a zip bomb costs nothing. (werkzeug's
``get_input_stream`` does the same through two stream wrappers, a tenth of the Track work.)
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from hitcount.api_flask.errors import InvalidRequest, PayloadTooLarge, RequestTimeout, UnsupportedEncoding, echo

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

# A gzip stream: zlib's window bits plus 16 selects the gzip header and trailer.
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def read_body(environ: WSGIEnvironment, limit: int) -> bytes:
    """The request body with its ``Content-Encoding`` undone, whatever its Content-Type;
    :class:`PayloadTooLarge` when it has more than ``limit`` bytes, as sent or inflated, and
    :class:`RequestTimeout` when the server's input stream times out (servers that let the app
    read from the socket: hitcount's worker reads every body before calling the app)."""
    stream = environ["wsgi.input"]
    text = environ.get("CONTENT_LENGTH")
    try:
        if text:
            if not text.isdigit():
                raise InvalidRequest(f"Content-Length {echo(text)} is not a number of bytes")
            length = int(text)
            if length > limit:
                raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
            body = stream.read(length)
            if len(body) < length:
                raise InvalidRequest(f"body ended after {len(body)} of its {length} bytes")
        elif environ.get("wsgi.input_terminated"):
            body = stream.read(limit + 1)
        else:
            body = b""
    except TimeoutError:
        raise RequestTimeout("the body did not arrive within the client timeout") from None
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
