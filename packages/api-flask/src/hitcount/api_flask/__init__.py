"""hitcount-api-flask: the HTTP API (Track, Read, Ops) as a Flask app served by gunicorn with gevent.

``create_app()`` builds the app; ``hitcount api`` serves it (``HITCOUNT_BIND``, ``HITCOUNT_WORKERS``).

Importing this package stays cheap: the plugin entry point lives here, so every ``hitcount``
command imports it, and the gunicorn master must not import prometheus_client before its
configuration has chosen the metrics directory. ``create_app`` is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hitcount.api_flask.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from hitcount.api_flask.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
