"""``GET /``: the dashboard, a page to look at counts instead of reading JSON with curl.

Plain HTML, a stylesheet and a script beside this package's modules, no build step: the page
reads the API it came from (``GET /analytics?window=``, ``/analytics/<id>``, ``/hours/<id>``)
under the same read rules as any caller, with a token typed into it or without one (public ids
only). Its Content-Security-Policy lets it load and call nothing but its own origin, so it
makes no third-party request, and a page of another origin may not frame it. The window
choices are written into the page here from :data:`hitcount.core.WINDOWS`.
"""

from __future__ import annotations

import hashlib
from html import escape
from importlib import resources

from flask import Blueprint, Response, request

from hitcount.core import WINDOWS
from hitcount.core.windows import TOTAL

dashboard = Blueprint("dashboard", __name__)

POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self';"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
OPTIONS_MARK = "HITCOUNT_WINDOW_OPTIONS"


def _file(name: str) -> bytes:
    return resources.files("hitcount.api_flask").joinpath(name).read_bytes()


_OPTIONS = (
    "".join(f'<option value="{escape(window.name)}">{escape(window.reference)}</option>' for window in WINDOWS)
    + f'<option value="{TOTAL}">all time</option>'
)
FILES = {
    "/": (_file("dashboard.html").replace(OPTIONS_MARK.encode(), _OPTIONS.encode(), 1), "text/html"),
    "/dashboard.js": (_file("dashboard.js"), "text/javascript"),
    "/dashboard.css": (_file("dashboard.css"), "text/css"),
}
ETAGS = {path: hashlib.sha256(body).hexdigest()[:20] for path, (body, _) in FILES.items()}


def _served(path: str) -> Response:
    """A file of the dashboard, revalidated by its ETag (it changes only with hitcount itself)."""
    body, kind = FILES[path]
    response = Response(body, content_type=f"{kind}; charset=utf-8")
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["Cache-Control"] = "no-cache"
    response.set_etag(ETAGS[path])
    response.make_conditional(request)  # 304 when If-None-Match names the ETag
    return response


@dashboard.get("/")
def page() -> Response:
    return _served("/")


@dashboard.get("/dashboard.js")
def script() -> Response:
    return _served("/dashboard.js")


@dashboard.get("/dashboard.css")
def stylesheet() -> Response:
    return _served("/dashboard.css")
