"""The Redis client every hitcount Redis backend uses: bounded waits, no retries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from hitcount.core import HitcountError
from hitcount.core.config import mask_url


def bounded_client(url: str, socket_timeout: float, timeout: float, max_connections: int) -> redis.Redis:
    """A client whose every wait is bounded: connecting, answering, and waiting for a free connection.

    No retries: a failed publish must reach the API within a second, as a 503.
    """
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return redis.Redis.from_pool(pool)  # owns the pool: close() closes its connections


@contextmanager
def unavailable(error: type[HitcountError], what: str, action: str) -> Iterator[None]:
    """Turn the client's errors into core's ``error`` naming the server (``what``) and the action;
    a URL in the client's words is shown with its secrets masked, as ``what`` is."""
    try:
        yield
    except redis.RedisError as cause:
        raise error(f"{what}: {action} failed: {mask_url(str(cause))}") from cause
