"""The API's plugin: its settings and the ``hitcount api`` command.

Kept free of Flask, gevent, gunicorn and prometheus_client imports: every ``hitcount``
command loads it.
"""

from __future__ import annotations

from hitcount.api_flask import next_steps
from hitcount.api_flask.server import serve
from hitcount.api_flask.settings import ACCESS_LOG, PUBLIC_IDS, SETTINGS
from hitcount.core import Command, Registry, Served, hookimpl


@hookimpl
def hitcount_register_settings(registry: Registry) -> None:
    """HITCOUNT_BIND, HITCOUNT_WORKERS, HITCOUNT_ACCESS_LOG, the security settings (CORS origins, read tokens,
    public ids, rate limits, trusted proxies) and the spool's size."""
    registry.add_settings(*SETTINGS)


@hookimpl
def hitcount_register_commands(registry: Registry) -> None:
    """``hitcount api``; run by ``hitcount serve`` with its access log on and every id readable by pages of any
    origin (the local shape: a page on another port of the machine shows its counts at once; a deployment runs
    ``hitcount api`` with its own settings), saying what to try once it answers."""
    registry.add_command(
        Command(
            "api",
            "Serve the HTTP API (gunicorn, gevent workers) on HITCOUNT_BIND.",
            serve,
            served=Served({ACCESS_LOG.name: "on", PUBLIC_IDS.name: "*"}, next_steps.started),
        )
    )
