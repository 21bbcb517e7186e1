"""What one app's views and Track front share: its settings, policies, limiters, and the worker's backends,
the group commit and publisher that write to them, and the reader that reads them."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from hitcount.api_flask.access import ReadAccess
from hitcount.api_flask.backends import Backends
from hitcount.api_flask.batcher import GroupCommit
from hitcount.api_flask.cors import CorsPolicy
from hitcount.api_flask.drops import DropPolicy
from hitcount.api_flask.proxies import TrustedProxies
from hitcount.api_flask.ratelimit import RateLimiter
from hitcount.api_flask.reader import Reader
from hitcount.api_flask.settings import ApiSettings
from hitcount.api_flask.spool import Publisher
from hitcount.api_flask.tuning import Tuning
from hitcount.api_flask.visitors import VisitorKeys
from hitcount.core import now_ns
from hitcount.core.masking import Secrets

EXTENSION = "hitcount"


@dataclass(frozen=True)
class ApiState:
    settings: ApiSettings
    tuning: Tuning
    cors: CorsPolicy
    access: ReadAccess
    proxies: TrustedProxies
    drops: DropPolicy
    visitors: VisitorKeys
    # None when HITCOUNT_RATE_LIMIT is off.
    limiter: RateLimiter | None
    # None when HITCOUNT_READ_RATE_LIMIT is off.
    read_limiter: RateLimiter | None
    backends: Backends
    # Track's path: the group commit writes each group of hits with the publisher.
    batcher: GroupCommit
    publisher: Publisher
    reader: Reader
    # What no answer or log line of the app may hold (hitcount.core.Runtime.secrets).
    secrets: Secrets

    def init_app(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self

    def open(self) -> None:
        """Open the worker's backends, get the day's visitor salt and start forwarding its spool (in each
        worker, before it serves)."""
        self.backends.open()
        self.visitors.prepare(now_ns())
        self.publisher.start()

    def close(self) -> None:
        """Stop taking hits, stop forwarding, and release the backends' connections (when a worker exits)."""
        self.batcher.close()
        self.publisher.stop(self.tuning.enqueue_timeout)
        self.backends.close()


def api_state(app: Flask | None = None) -> ApiState:
    """The state of ``app`` (default: the app handling the current request)."""
    state: ApiState = (app or current_app).extensions[EXTENSION]
    return state


def served_state(app: object) -> ApiState | None:
    """The state of the app a gunicorn worker serves, or None when that is not hitcount's
    (the benchmarks serve a bare Flask baseline under the same configuration)."""
    state: ApiState | None = app.extensions.get(EXTENSION) if isinstance(app, Flask) else None
    return state
