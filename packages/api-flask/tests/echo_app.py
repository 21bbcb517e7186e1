"""A WSGI app that answers what it was given, for the tests of the HTTP server: whatever the server
made of a request shows in the answer, so two servers can be compared on it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse

# The environ keys of a request that the app echoes (with every HTTP_* field).
# A field on every answer of the app: an answer without it is the server's own.
FROM_APP = ("X-From", "echo-app")
ECHOED = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH", "SERVER_PROTOCOL")


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """``/status/N`` answers N; ``/fail`` raises; ``/split`` a header field holding a line break;
    anything else 200 with the request as JSON."""
    body = environ["wsgi.input"].read()
    path = environ["PATH_INFO"]
    if path == "/fail":
        raise RuntimeError("the app failed")
    if path == "/split":
        start_response("200 OK", [("X-Split", "a\r\nSet-Cookie: b")])
        return [b"split"]
    if path.startswith("/status/"):
        start_response(f"{path.removeprefix('/status/')} Whatever", [FROM_APP])
        return []
    echoed = {key: value for key, value in environ.items() if key in ECHOED or key.startswith("HTTP_")}
    echoed["body"] = body.decode("latin-1")
    start_response("200 OK", [("Content-Type", "application/json"), FROM_APP])
    return [json.dumps(echoed, sort_keys=True).encode()]
