"""The API's plugin: its settings and the ``hitcount api`` command.

Kept free of Flask, gevent, gunicorn and prometheus_client imports: every ``hitcount``
command loads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hitcount.api_flask import next_steps
from hitcount.api_flask.server import serve
from hitcount.api_flask.settings import ACCESS_LOG, PUBLIC_IDS, SETTINGS
from hitcount.core import Command, Registry, Served, hookimpl
from hitcount.core.config import Rule, format_duration
from hitcount.core.settings import QUEUE

# The Redis queue's timeout, named rather than imported: hitcount-queue-redis is not a dependency.
REDIS_TIMEOUT = "HITCOUNT_REDIS_TIMEOUT"


def _publish_within_lease(values: Mapping[str, Any]) -> str | None:
    if values[QUEUE.name] != "redis":
        return None
    from hitcount.api_flask.spool import LEASE  # spool imports gevent, which this module must not

    timeout: float = values[REDIS_TIMEOUT]
    if 3 * timeout < LEASE:
        return None
    return (
        f"{REDIS_TIMEOUT}={format_duration(timeout)} lets one publish take {format_duration(3 * timeout)}"
        f" (a free connection, connecting, the answer: each within it), not less than the spool's lease"
        f" (hitcount.api_flask.spool.LEASE = {format_duration(LEASE)}):"
        " two workers would forward a spooled batch at once"
    )


PUBLISH_WITHIN_LEASE = Rule(
    f"With {QUEUE.name}=redis, three times {REDIS_TIMEOUT} (a free connection, connecting, the answer) is below"
    " the lease of a spooled batch being forwarded (hitcount.api_flask.spool.LEASE), so that two workers never"
    " forward it at once.",
    (QUEUE.name, REDIS_TIMEOUT),
    _publish_within_lease,
)


@hookimpl
def hitcount_register_settings(registry: Registry) -> None:
    """HITCOUNT_BIND, HITCOUNT_WORKERS, HITCOUNT_ACCESS_LOG, the security settings (CORS origins, read tokens,
    public ids, rate limits, trusted proxies) and the spool's size; the rule between the spool's lease and a
    Redis publish."""
    registry.add_settings(*SETTINGS)
    registry.add_rules(PUBLISH_WITHIN_LEASE)


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
