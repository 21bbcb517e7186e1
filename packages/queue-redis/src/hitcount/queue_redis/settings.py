"""The ``HITCOUNT_REDIS_*`` settings the Redis queue and counts cache read.

They live apart from :mod:`hitcount.queue_redis.queue` so that registering them (which every
``hitcount`` process does) never imports the Redis client.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from hitcount.core.config import Setting, parse_positive_duration, parse_positive_int

SCHEMES = ("redis", "rediss", "unix")


def parse_redis_url(text: str) -> str:
    """A ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL as redis-py's ``from_url`` reads it."""
    parts = urlsplit(text.strip())
    if parts.scheme not in SCHEMES:
        raise ValueError(f"expected a URL starting with {', '.join(scheme + '://' for scheme in SCHEMES)}")
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError("expected a host, as in redis://[:password@]host[:port][/db]")
    return text.strip()


def parse_cache_url(text: str) -> str:
    """Nothing (the queue's server), or a URL as :func:`parse_redis_url` reads it."""
    return parse_redis_url(text) if text.strip() else ""


def parse_prefix(text: str) -> str:
    """A key prefix without braces: a brace would move the Redis Cluster hash tag into the prefix."""
    prefix = text.strip()
    if not prefix or "{" in prefix or "}" in prefix:
        raise ValueError("expected a non-empty prefix without { or }")
    return prefix


def parse_min_replicas(text: str) -> int | None:
    """Nothing (decided by the server: see MIN_REPLICAS), or a number of replicas, 0 for none."""
    if not text.strip():
        return None
    value = int(text)
    if value < 0:
        raise ValueError("expected a whole number of replicas, 0 or more, or nothing")
    return value


REDIS_URL = Setting(
    "HITCOUNT_REDIS_URL",
    "redis://127.0.0.1:6379/0",
    "Redis of the queue: redis://[[user]:password@]host[:port][/db], rediss:// for TLS"
    " (a private CA: ?ssl_ca_certs=/path/ca.pem), or unix://path;"
    " any node of a Redis Cluster (found by its cluster_enabled).",
    parse_redis_url,
    url=True,
)
PREFIX = Setting(
    "HITCOUNT_REDIS_PREFIX",
    "hitcount",
    "Prefix of every Redis key of the queue; queues with different prefixes share nothing.",
    parse_prefix,
)
PARTITIONS = Setting(
    "HITCOUNT_REDIS_PARTITIONS",
    "1",
    "Streams the batches are spread over (each on its own Redis Cluster slot); drain the queue before lowering it.",
    parse_positive_int,
)
TIMEOUT = Setting(
    "HITCOUNT_REDIS_TIMEOUT",
    "500ms",
    "How long one Redis command may take (connect or answer) before the queue reports itself unavailable.",
    parse_positive_duration,
)
MIN_REPLICAS = Setting(
    "HITCOUNT_REDIS_MIN_REPLICAS",
    "",
    "Replicas that must confirm (WAIT, half of HITCOUNT_REDIS_TIMEOUT) a publish or a replay before it"
    " is answered; refused (QueueUnavailable) otherwise. Default: 1 when the master has replicas, else 0.",
    parse_min_replicas,
)
CACHE_REDIS_URL = Setting(
    "HITCOUNT_CACHE_REDIS_URL",
    "",
    "Redis of the counts cache, as HITCOUNT_REDIS_URL (a server with maxmemory and an allkeys-lru policy,"
    " whose memory the queue's batches never compete for); empty: the queue's server, whose maxmemory-policy"
    " should then be volatile-lru so that cached counts are evicted before batches are refused.",
    parse_cache_url,
)
SETTINGS = (
    REDIS_URL,
    PREFIX,
    PARTITIONS,
    TIMEOUT,
    MIN_REPLICAS,
    CACHE_REDIS_URL,
)
