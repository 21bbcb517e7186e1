"""``hitcount api``: gunicorn with gevent workers serving the app, configured by the shipped ``gunicorn.conf.py``."""

from __future__ import annotations

import argparse
from pathlib import Path

from flask import Flask
from gunicorn.app.base import Application

from hitcount.api_flask.settings import BIND, WORKERS, ApiSettings
from hitcount.core import Runtime
from hitcount.core.settings import QUEUE, STORE

GUNICORN_CONF = Path(__file__).with_name("gunicorn.conf.py")


class ApiServer(Application):  # type: ignore[misc]
    """gunicorn's arbiter with the shipped configuration and no command line of its own."""

    def __init__(self) -> None:
        super().__init__(prog="hitcount api")

    def load_config(self) -> None:
        self.load_config_from_file(str(GUNICORN_CONF))

    def load(self) -> Flask:
        """Called in each worker after the fork: the app, and so its backends, belong to the worker."""
        from hitcount.api_flask.wsgi import app

        return app


def serve(arguments: argparse.Namespace, runtime: Runtime) -> int:
    """Serve the API until SIGTERM or SIGINT; configuration errors stop it before any worker starts."""
    config = runtime.config
    ApiSettings.from_config(config)
    config.get(BIND)
    config.get(WORKERS)
    runtime.registry.queue(config.get(QUEUE))
    runtime.registry.store(config.get(STORE))
    ApiServer().run()
    return 0
