"""Reading a request body from a WSGI environ within a size limit, and undoing gzip.

A body over the limit is refused without reading it when ``Content-Length`` says so,
and by reading at most one byte past the limit otherwise (chunked bodies); a gzip
body is inflated at most one byte past the limit, so a zip bomb costs nothing.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from hitcount.api_flask.errors import InvalidRequest, PayloadTooLarge, UnsupportedEncoding

_READ_CHUNK = 16 * 1024
# A gzip stream: zlib's window bits plus 16 selects the gzip header and trailer.
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def read_body(environ: Mapping[str, Any], limit: int) -> bytes:
    """The request body, or :class:`PayloadTooLarge` when it has more than ``limit`` bytes."""
    stream = environ["wsgi.input"]
    length_text = environ.get("CONTENT_LENGTH")
    if length_text:
        length = int(length_text) if length_text.isascii() and length_text.isdigit() else -1
        if length < 0:
            raise InvalidRequest(f"Content-Length {length_text!r} is not a number of bytes")
        if length > limit:
            raise PayloadTooLarge(f"body of {length} bytes is over the limit of {limit} bytes")
        return _read_up_to(stream, length)
    if not environ.get("wsgi.input_terminated"):
        # Without a length the stream may block past the body: WSGI servers that do not
        # terminate the input (PEP 3333) only allow reading what Content-Length announces.
        return b""
    body = _read_up_to(stream, limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
    return body


def _read_up_to(stream: Any, size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def decode_content(body: bytes, encoding: str | None, limit: int) -> bytes:
    """``body`` with its ``Content-Encoding`` undone; the result is at most ``limit`` bytes."""
    coding = (encoding or "identity").strip().lower()
    if coding == "identity":
        return body
    if coding not in {"gzip", "x-gzip"}:
        raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported; use gzip or identity")
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
