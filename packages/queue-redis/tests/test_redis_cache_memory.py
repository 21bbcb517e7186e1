"""The counts cache never takes the memory the queue's batches need (HITCOUNT_CACHE_REDIS_URL, volatile-lru).

A Redis holding the queue refuses writes once full (maxmemory with noeviction) rather than lose
a batch; cached counts sharing its memory would make it refuse batches. Each test fills the cache
well past the queue server's maxmemory, then publishes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import redis

from hitcount.core import WINDOWS, Config, ConfigError, Counts, Hit, now_ns
from hitcount.core.wire import encode_batch
from hitcount.queue_redis.cache import RedisCache
from hitcount.queue_redis.queue import RedisQueue
from hitcount.queue_redis.settings import CACHE_REDIS_URL
from hitcount.queue_redis.testing import RedisServer

QueueOpener = Callable[..., RedisQueue]
# A fresh redis-server uses about 1 MB; 3 MB leaves the queue room, and 20,000 entries overflow it.
MAXMEMORY = ("--maxmemory", "3mb", "--appendonly", "yes")
ENTRIES = 20_000


def fill(cache: RedisCache) -> None:
    now = now_ns()
    for n in range(ENTRIES):
        cache.put(Counts(f"badge-{n}-{uuid.uuid4().hex}", now, (1,) * len(WINDOWS)))


def test_with_a_cache_url_of_its_own_cached_counts_never_refuse_batches(
    start_redis: Callable[..., RedisServer], open_queue: QueueOpener, prefix: str
) -> None:
    queue_server = start_redis(*MAXMEMORY, "--maxmemory-policy", "noeviction")
    cache_server = start_redis(*MAXMEMORY, "--maxmemory-policy", "allkeys-lru")
    environ = {"HITCOUNT_REDIS_URL": queue_server.url, "HITCOUNT_REDIS_PREFIX": prefix}
    cache = RedisCache.from_config(Config({**environ, "HITCOUNT_CACHE_REDIS_URL": cache_server.url}))
    try:
        fill(cache)
        assert cache.health().ok
    finally:
        cache.close()
    assert redis.Redis.from_url(queue_server.url).dbsize() == 0
    assert redis.Redis.from_url(cache_server.url).dbsize() > 0
    queue = open_queue(url=queue_server.url)
    queue.publish(encode_batch([Hit("page", now_ns())]), 1)
    assert queue.health().ok


def test_sharing_the_queues_redis_under_volatile_lru_cached_counts_are_evicted_not_batches(
    start_redis: Callable[..., RedisServer], open_queue: QueueOpener, prefix: str
) -> None:
    server = start_redis(*MAXMEMORY, "--maxmemory-policy", "volatile-lru")
    queue = open_queue(url=server.url)
    queue.publish(encode_batch([Hit("before", now_ns())]), 1)
    cache = RedisCache.from_config(Config({"HITCOUNT_REDIS_URL": server.url, "HITCOUNT_REDIS_PREFIX": prefix}))
    try:
        fill(cache)  # every put taken: Redis makes room by evicting older counts
    finally:
        cache.close()
    assert redis.Redis.from_url(server.url).info("stats")["evicted_keys"] > 0
    queue.publish(encode_batch([Hit("after", now_ns())]), 1)
    assert queue.health().ok
    assert len(queue.consume("c1", 10, 1.0)) == 2


def test_the_cache_url_defaults_to_the_queues_and_is_checked_like_it() -> None:
    assert Config({}).get(CACHE_REDIS_URL) == ""
    with pytest.raises(ConfigError, match="HITCOUNT_CACHE_REDIS_URL"):
        Config({"HITCOUNT_CACHE_REDIS_URL": "http://cache:6379"}).get(CACHE_REDIS_URL)
