"""``HITCOUNT_ACCESS_LOG``: a log line per request the app answers, to see requests arrive (a page's beacon).

Off by default: a line per hit is a second write per Track request, and at thousands of
hits a second it buries every other line. Off, it costs nothing: the connection is given
no log to call (:mod:`.http1.connection`). ``hitcount serve``, the command a newcomer runs,
turns it on.

A line holds the path as the client sent it, percent-encoded (a decoded one could end the
line and forge the next), and never its query: a query may carry what a client meant as a
secret (a token some client adds to every URL), which hitcount cannot tell from the rest.
No header is logged, so neither is ``Authorization`` (``HITCOUNT_READ_TOKENS``).
"""

from __future__ import annotations

import logging
from typing import Any

from hitcount.api_flask.proxies import TrustedProxies
from hitcount.core.config import format_duration

log = logging.getLogger(__name__)


class RequestLog:
    """Logs each answered request as ``GET /analytics/hello 200 1.2 ms from 127.0.0.1``: method, path, status,
    the app's time, and the client's address as the rate limits tell it (``HITCOUNT_TRUSTED_PROXIES``)."""

    __slots__ = ("_proxies",)

    def __init__(self, proxies: TrustedProxies) -> None:
        self._proxies = proxies

    def __call__(self, environ: dict[str, Any], status: str, took: float) -> None:
        path = environ["RAW_URI"].partition("?")[0]
        client = self._proxies.client(environ)
        log.info("%s %s %s %s from %s", environ["REQUEST_METHOD"], path, status[:3], format_duration(took), client)
