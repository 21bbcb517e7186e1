"""The application factory of the hitcount API."""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import HTTPException

from hitcount.api_flask.access import ReadAccess
from hitcount.api_flask.backends import Backends
from hitcount.api_flask.batcher import GroupCommit
from hitcount.api_flask.blueprints.dashboard import dashboard
from hitcount.api_flask.blueprints.ops import ops
from hitcount.api_flask.blueprints.read import read
from hitcount.api_flask.blueprints.script import script
from hitcount.api_flask.cors import CorsPolicy
from hitcount.api_flask.drops import DropPolicy
from hitcount.api_flask.errors import ANSWERS
from hitcount.api_flask.front import serve_track
from hitcount.api_flask.nosniff import NoSniff
from hitcount.api_flask.proxies import TrustedProxies
from hitcount.api_flask.ratelimit import Rate, RateLimiter
from hitcount.api_flask.reader import Reader
from hitcount.api_flask.responses import error_response, http_error, unexpected_error
from hitcount.api_flask.settings import RATE_LIMIT, READ_RATE_LIMIT, ApiSettings
from hitcount.api_flask.spool import Publisher
from hitcount.api_flask.state import ApiState
from hitcount.api_flask.tuning import Tuning
from hitcount.api_flask.visitors import DailySalt, VisitorKeys
from hitcount.core import MemoryCache, Runtime

# What the API runs with, unless a test tunes it.
TUNING = Tuning()


def _limiter(rate: Rate | None, setting: str, tuning: Tuning) -> RateLimiter | None:
    return RateLimiter(rate, setting, tuning.rate_limit_ipv6_prefix) if rate else None


def create_app(runtime: Runtime | None = None, settings: ApiSettings | None = None, tuning: Tuning = TUNING) -> Flask:
    """The API as a WSGI app, configured from ``HITCOUNT_*`` (through ``runtime``, default :meth:`Runtime.load`;
    its API settings parsed from the runtime's configuration unless given), and ``tuning`` (tests tune it).

    Nothing that holds a socket or a thread is created here: the backends are opened by each
    worker once it has loaded the app (:meth:`~hitcount.api_flask.state.ApiState.open`), the
    batcher's greenlet on first use, so the app may be built before gunicorn forks.
    """
    runtime = runtime or Runtime.load()
    settings = settings or ApiSettings.from_config(runtime.config)
    app = Flask(__name__)
    # An id may hold "//"; werkzeug would otherwise redirect to a path without it.
    app.url_map.merge_slashes = False
    backends = Backends(runtime, settings, tuning)
    publisher = Publisher(backends.queue, backends.spool)
    batcher = GroupCommit(publisher.publish, tuning.commit_interval, tuning.enqueue_timeout)
    # The worker's own copy of counts, which no other cache instance sees (a configured memory cache included).
    local = MemoryCache(namespace=None)
    reader = Reader(
        backends.store,
        backends.cache,
        local,
        timeout=tuning.read_timeout,
        max_age=tuning.read_max_age,
        concurrency=tuning.read_concurrency,
    )
    proxies = TrustedProxies(settings.trusted_proxies)
    state = ApiState(
        settings,
        tuning,
        CorsPolicy.of(settings.cors_origins),
        ReadAccess.of(settings.read_tokens, settings.public_ids),
        proxies,
        DropPolicy.of(settings.count_bots, settings.respect_dnt, tuning.agent_verdicts),
        VisitorKeys(DailySalt(backends.queue, tuning.enqueue_timeout) if settings.count_visitors else None, proxies),
        _limiter(settings.rate_limit, RATE_LIMIT.name, tuning),
        _limiter(settings.read_rate_limit, READ_RATE_LIMIT.name, tuning),
        backends,
        batcher,
        publisher,
        reader,
        runtime.secrets,
    )
    state.init_app(app)
    for blueprint in (read, script, dashboard, ops):
        app.register_blueprint(blueprint)
    for error in ANSWERS:
        app.register_error_handler(error, error_response)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected_error)
    serve_track(app, state)
    app.wsgi_app = NoSniff(app.wsgi_app)  # type: ignore[method-assign]
    return app
