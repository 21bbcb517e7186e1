"""``hitcount indexer``: run one indexer in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
from contextlib import ExitStack
from types import FrameType

from hitcount.core import Runtime
from hitcount.indexer import metrics
from hitcount.indexer.indexer import Indexer
from hitcount.indexer.settings import METRICS_BIND, IndexerSettings


def consumer_name() -> str:
    """A name no other indexer on the same queue has, and that says where it runs."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def run_indexer(arguments: argparse.Namespace, runtime: Runtime) -> int:
    """Index until a signal asks to stop; the batch in hand is finished and acknowledged first."""
    runtime.require_rules()
    settings = IndexerSettings.from_config(runtime.config)
    bind = runtime.config.get(METRICS_BIND)
    runtime.log_data_dir()
    with ExitStack() as resources:
        queue = runtime.open_queue()
        resources.callback(queue.close)
        store = runtime.open_store()
        resources.callback(store.close)
        indexer = Indexer(queue, store, consumer_name(), settings)

        def stop(signum: int, frame: FrameType | None) -> None:
            indexer.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if bind is not None:
            server = metrics.serve(*bind)
            resources.callback(server.server_close)
            resources.callback(server.shutdown)
        indexer.run()
    return 0
