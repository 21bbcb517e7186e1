"""The plugin: installing the package and setting HITCOUNT_QUEUE=redis is all it takes."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from hitcount.core import VISIBILITY_TIMEOUT, Config, ConfigError, Runtime
from hitcount.queue_redis.cache import RedisCache
from hitcount.queue_redis.queue import RedisQueue
from hitcount.queue_redis.settings import MIN_REPLICAS, PARTITIONS, PREFIX, TIMEOUT


def test_hitcount_queue_redis_selects_this_queue_through_the_entry_point(redis_url: str, prefix: str) -> None:
    runtime = Runtime.load(
        {"HITCOUNT_QUEUE": "redis", "HITCOUNT_REDIS_URL": redis_url, "HITCOUNT_REDIS_PREFIX": prefix}
    )
    assert runtime.registry.queues["redis"].provider.package == "hitcount-queue-redis"
    queue = runtime.open_queue()
    try:
        assert isinstance(queue, RedisQueue)
        queue.publish(b"through the plugin", 1)
        assert [delivery.payload for delivery in queue.consume("c1", 10, 1.0)] == [b"through the plugin"]
    finally:
        queue.close()


def test_hitcount_cache_redis_is_this_packages_counts_cache(redis_url: str, prefix: str) -> None:
    runtime = Runtime.load(
        {"HITCOUNT_CACHE": "redis", "HITCOUNT_REDIS_URL": redis_url, "HITCOUNT_REDIS_PREFIX": prefix}
    )
    assert runtime.registry.caches["redis"].provider.package == "hitcount-queue-redis"
    cache = runtime.open_cache()
    try:
        assert isinstance(cache, RedisCache)
    finally:
        cache.close()


def test_loading_the_plugins_does_not_import_the_redis_client() -> None:
    check = (
        "import sys; from hitcount.core import Runtime; Runtime.load({});"
        " sys.exit('redis was imported' if 'redis' in sys.modules else 0)"
    )
    subprocess.run([sys.executable, "-c", check], check=True, timeout=60)


def test_hitcount_config_lists_the_redis_settings_with_the_password_masked() -> None:
    runtime = Runtime.load({"HITCOUNT_REDIS_URL": "rediss://indexer:s3cret@redis.internal:6380/2"})
    values = {entry.name: entry.value for entry in runtime.config.entries(runtime.registry.settings.values())}
    assert values["HITCOUNT_REDIS_URL"] == "rediss://indexer:****@redis.internal:6380/2"
    assert {"HITCOUNT_REDIS_PREFIX", "HITCOUNT_REDIS_PARTITIONS", "HITCOUNT_REDIS_MIN_REPLICAS"} <= values.keys()
    assert "s3cret" not in " ".join(values.values())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HITCOUNT_REDIS_URL", "http://127.0.0.1:6379"),
        ("HITCOUNT_REDIS_URL", "redis://"),
        ("HITCOUNT_REDIS_PREFIX", "a{b}"),
        ("HITCOUNT_REDIS_PARTITIONS", "0"),
        ("HITCOUNT_REDIS_MIN_REPLICAS", "many"),
        ("HITCOUNT_REDIS_TIMEOUT", "0s"),
    ],
)
def test_a_malformed_setting_is_refused_naming_the_variable(name: str, value: str) -> None:
    runtime = Runtime.load({"HITCOUNT_QUEUE": "redis", name: value})
    with pytest.raises(ConfigError, match=name):
        runtime.open_queue()


def test_the_queues_constructor_defaults_are_its_settings_defaults() -> None:
    """Tests construct the queue with values; the plugin from settings: both start from the same defaults."""
    config = Config({})
    expected = {
        "prefix": config.get(PREFIX),
        "partitions": config.get(PARTITIONS),
        "timeout": config.get(TIMEOUT),
        "min_replicas": config.get(MIN_REPLICAS),
        "visibility_timeout": config.get(VISIBILITY_TIMEOUT),
    }
    parameters = inspect.signature(RedisQueue).parameters
    assert {name: parameters[name].default for name in expected} == expected
