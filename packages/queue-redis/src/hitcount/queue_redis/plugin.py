"""The ``redis`` plugin: its settings, its queue and its counts cache, without importing redis-py."""

from __future__ import annotations

from hitcount.core import Config, CountsCache, Queue, Registry, hookimpl
from hitcount.queue_redis.settings import SETTINGS


@hookimpl
def hitcount_register_settings(registry: Registry) -> None:
    """The ``HITCOUNT_REDIS_*`` settings."""
    registry.add_settings(*SETTINGS)


def open_queue(config: Config) -> Queue:
    """Open the queue; redis-py is imported only now, when ``HITCOUNT_QUEUE=redis`` chose it."""
    from hitcount.queue_redis.queue import RedisQueue

    return RedisQueue.from_config(config)


def open_cache(config: Config) -> CountsCache:
    """Open the counts cache; redis-py is imported only now, when the cache is Redis."""
    from hitcount.queue_redis.cache import RedisCache

    return RedisCache.from_config(config)


@hookimpl
def hitcount_register_backends(registry: Registry) -> None:
    """The ``redis`` queue and counts cache: redis-py's sockets are gevent's once it patches them,
    so they are called on the event loop, not on threads."""
    registry.add_queue("redis", open_queue, blocking=False)
    registry.add_cache("redis", open_cache, blocking=False)
