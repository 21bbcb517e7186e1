"""``X-Content-Type-Options: nosniff`` on every answer of the app, whoever writes it.

An error that echoes a client's input, read by a browser that guesses types, could be
taken for HTML or script; with ``nosniff`` the browser keeps to the declared type. Added
in one WSGI wrapper around everything (the Track front, Flask's views, error handlers,
404s), so that no answer can miss it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

NOSNIFF = ("X-Content-Type-Options", "nosniff")


class NoSniff:
    """A WSGI app adding :data:`NOSNIFF` to every answer of ``app``."""

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            return start_response(status, [*headers, NOSNIFF], exc_info)

        return self._app(environ, start)
