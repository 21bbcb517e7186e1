"""``hitcount api``: gunicorn with gevent workers serving the app, configured by the shipped ``gunicorn.conf.py``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from hitcount.api_flask.address import Address
from hitcount.api_flask.settings import BIND, ApiSettings
from hitcount.core import ConfigError, Runtime
from hitcount.core.settings import STORE

GUNICORN_CONF = Path(__file__).with_name("gunicorn.conf.py")
# How long an address taken at start may take to be let go of, as gunicorn's own five retries.
BIND_RETRY = 5.0


def gunicorn_command() -> list[str]:
    """gunicorn's command line; the configuration file names the app (``wsgi_app``)."""
    return [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF)]


def serve(arguments: argparse.Namespace, runtime: Runtime) -> int:
    """Check the configuration, then become gunicorn's master until SIGTERM or SIGINT.

    gunicorn runs in a fresh interpreter (``exec``, same process id, so signals sent to
    ``hitcount api`` reach it): this process has loaded every plugin, and a plugin that
    imports prometheus_client here would fix its value class before ``gunicorn.conf.py``
    chooses the multi-process metrics directory.
    """
    config = runtime.config
    settings = ApiSettings.from_config(config)
    address = Address.of(settings.bind)
    # As long as gunicorn would retry: a server stopping there (a restart) lets go of it meanwhile.
    deadline = time.monotonic() + BIND_RETRY
    while address is not None and address.taken() and time.monotonic() < deadline:
        time.sleep(0.2)
    if address is not None and address.taken():
        raise ConfigError(
            f"{BIND.name}={settings.bind}: something already listens there (another hitcount?);"
            f" stop it, or set {BIND.name} to another address, e.g. 127.0.0.1:8001"
        )
    runtime.require_shared_queue("api")
    runtime.require_rules()
    runtime.registry.store(config.get(STORE))
    runtime.log_data_dir()
    sys.stdout.flush()
    sys.stderr.flush()
    command = gunicorn_command()
    os.execv(command[0], command)
