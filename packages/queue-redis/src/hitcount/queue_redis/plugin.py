"""The ``redis`` queue's plugin: its settings and its backend, without importing redis-py."""

from __future__ import annotations

from hitcount.core import Config, Queue, Registry, hookimpl
from hitcount.queue_redis.settings import SETTINGS


@hookimpl
def hitcount_register_settings(registry: Registry) -> None:
    """The ``HITCOUNT_REDIS_*`` settings."""
    registry.add_settings(*SETTINGS)


def open_queue(config: Config) -> Queue:
    """Open the queue; redis-py is imported only now, when ``HITCOUNT_QUEUE=redis`` chose it."""
    from hitcount.queue_redis.queue import RedisQueue

    return RedisQueue(config)


@hookimpl
def hitcount_register_backends(registry: Registry) -> None:
    """The ``redis`` queue."""
    registry.add_queue("redis", open_queue)
