"""The web pages of the browser tests, each served from an origin other than the API's, as a site's are."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.e2e.pipeline import Stack

# Ids anyone may read: the pages' counters read without a token (reads need one for the rest).
PUBLIC = "public-"


@dataclass
class Site:
    """An origin serving the pages a test puts in :attr:`pages`, by path."""

    server: ThreadingHTTPServer
    pages: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, html: str) -> str:
        """The URL of a new page of ``html``."""
        path = f"/{uuid.uuid4().hex[:8]}.html"
        self.pages[path] = html
        return f"{self.origin}{path}"


def serve_site() -> Site:
    site = Site(ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler))

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            html = site.pages.get(self.path)
            self.send_response(200 if html is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((html or "not found").encode())

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: pytest shows what failed."""

    site.server.RequestHandlerClass = Pages
    threading.Thread(target=site.server.serve_forever, daemon=True).start()
    return site


def script_tag(stack: Stack, id: str | None = None, flags: Iterable[str] = ()) -> str:
    """The tag a page includes, with ``data-id`` when ``id`` is given, and attributes ``flags`` (``data-hash``)."""
    attributes = "".join([f' data-id="{id}"' if id is not None else "", *(f" {flag}" for flag in flags)])
    return f'<script defer src="http://127.0.0.1:{stack.port}/hitcount.js"{attributes}></script>'


def page_of(body: str, stack: Stack, id: str | None = None, flags: Iterable[str] = ()) -> str:
    return f"<!doctype html><html><head>{script_tag(stack, id, flags)}</head><body>{body}</body></html>"
