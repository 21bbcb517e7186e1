"""The ``redis`` counts cache: one key per id, expiring with core's ``CACHE_TTL`` (a day), in the
Redis of ``HITCOUNT_CACHE_REDIS_URL`` (default: the queue's).

Every API process of every host that shares that Redis shares these counts, so a hot
id is counted by the store about once per the API's read max age (2 s) whatever the readers.
The cache must never take the memory the queue needs: a Redis that holds batches refuses
writes once full (``noeviction``) rather than lose one, and would then refuse batches for
the sake of cached counts. So the cache has a server of its own (``allkeys-lru``), or shares
the queue's under ``volatile-lru``: every cache key has a time to live and no key of the
queue has one, so Redis evicts counts, never batches.
Keys carry no hash tag: each command touches one key, so a Redis Cluster spreads them; the
client is a cluster's when the URL names a node of one.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager

from hitcount.core import CACHE_TTL, CacheUnavailable, Config, Counts, CountsCache, Health
from hitcount.core.cache import age, decode_counts, encode_counts
from hitcount.core.masking import mask_url
from hitcount.queue_redis.client import Connector, unavailable
from hitcount.queue_redis.settings import CACHE_REDIS_URL, PREFIX, REDIS_URL, TIMEOUT


class RedisCache(CountsCache):
    """Counts under ``<prefix>:counts:<id>``, served while younger than ``ttl`` seconds.

    Opening one does not connect.
    """

    def __init__(self, url: str, *, prefix: str, timeout: float, ttl: float) -> None:
        self._where = mask_url(url)
        self._prefix = f"{prefix}:counts:"
        self._ttl = ttl
        self._connector = Connector(url, timeout)

    @classmethod
    def from_config(cls, config: Config) -> RedisCache:
        """The cache of ``HITCOUNT_CACHE_REDIS_URL``, else the queue's Redis, under the queue's prefix."""
        return cls(
            config.get(CACHE_REDIS_URL) or config.get(REDIS_URL),
            prefix=config.get(PREFIX),
            timeout=config.get(TIMEOUT),
            ttl=CACHE_TTL,
        )

    def get(self, id: str) -> Counts | None:
        with self._unavailable("get"):
            data = self._connector.get().client.get(self._prefix + id)
        counts = decode_counts(data) if isinstance(data, bytes) else None
        return counts if counts is not None and age(counts) < self._ttl else None

    def put(self, counts: Counts) -> None:
        # Expire when the counts reach the TTL's age, not a whole TTL after being put.
        remaining_ms = math.ceil((self._ttl - age(counts)) * 1000)
        if remaining_ms <= 0:
            return
        with self._unavailable("put"):
            self._connector.get().client.set(self._prefix + counts.id, encode_counts(counts), px=remaining_ms)

    def health(self) -> Health:
        try:
            with self._unavailable("health check"):
                self._connector.get().client.ping()
        except CacheUnavailable as error:
            return Health(False, str(error))
        return Health(True, f"redis cache {self._where}")

    def close(self) -> None:
        self._connector.close()

    def _unavailable(self, action: str) -> AbstractContextManager[None]:
        """The client's errors as :class:`CacheUnavailable` naming the server and the action."""
        return unavailable(CacheUnavailable, f"redis cache {self._where}", action, self._connector)
