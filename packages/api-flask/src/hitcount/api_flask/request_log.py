"""``HITCOUNT_ACCESS_LOG``: a log line per request the app answers, to see requests arrive (a page's beacon).

Off by default: a line per hit is a second write per Track request, and at thousands of
hits a second it buries every other line. Off, it costs nothing: the connection is given
no log to call (:mod:`.http1.connection`). ``hitcount serve``, the command a newcomer runs,
turns it on.

A line holds the path as the client sent it, percent-encoded (a decoded one could end the
line and forge the next), and never its query: a query may carry what a client meant as a
secret (a token some client adds to every URL), which hitcount cannot tell from the rest.
No header is logged, so neither is ``Authorization`` (``HITCOUNT_READ_TOKENS``) nor ``User-Agent``,
and no address: hitcount keeps no visitor's address or agent anywhere (visitors are counted by a
keyed hash whose key is deleted within two days, :mod:`hitcount.core.visitors`), and a log is kept.
"""

from __future__ import annotations

import logging
from typing import Any

from hitcount.core.config import format_duration

log = logging.getLogger(__name__)


def log_request(environ: dict[str, Any], status: str, took: float) -> None:
    """Log an answered request as ``GET /analytics/hello 200 1.2 ms``: method, path, status and the app's time."""
    path = environ["RAW_URI"].partition("?")[0]
    log.info("%s %s %s %s", environ["REQUEST_METHOD"], path, status[:3], format_duration(took))
