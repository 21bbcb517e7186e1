"""hitcount-core: the hit model, count windows, wire format and the plugin contract.

Everything a backend or front end needs is importable from here (core's own settings
included); nothing in this package imports a web framework or a database client beyond
the standard library.

Two of core's own backends are public too, for components that keep data of their own
rather than the configured backends': :class:`SqliteQueue` (the API's spool is one, in its
own directory, fsynced on every put) and :class:`MemoryCache` (each API worker's own copy
of counts, in a namespace of its own).
"""

from hitcount.core.backends.memory import MemoryCache
from hitcount.core.backends.sqlite_queue import SqliteQueue
from hitcount.core.cache import CACHE_TTL, CountsCache
from hitcount.core.config import Config, Setting, parse_csv, parse_duration, parse_positive_int
from hitcount.core.errors import (
    CacheUnavailable,
    ConfigError,
    HitcountError,
    HitsRefused,
    InvalidBatch,
    InvalidHit,
    QueueFull,
    QueueUnavailable,
    StoreError,
    StoreUnavailable,
    UnknownBackend,
    UnknownWindow,
)
from hitcount.core.health import Health
from hitcount.core.hit import Hit, now_ns
from hitcount.core.markers import hookimpl
from hitcount.core.queue import VISIBILITY_TIMEOUT, Backlog, DeadLetter, Delivery, Queue
from hitcount.core.registry import Command, Registry, Served
from hitcount.core.runtime import Runtime
from hitcount.core.settings import CACHE, DATA_DIR, DISABLE_PLUGINS, LOG_LEVEL, QUEUE, RETENTION, STORE
from hitcount.core.store import HitStore
from hitcount.core.windows import WINDOWS, Counts, Window, window_named

__all__ = [
    "CACHE",
    "CACHE_TTL",
    "DATA_DIR",
    "DISABLE_PLUGINS",
    "LOG_LEVEL",
    "QUEUE",
    "RETENTION",
    "STORE",
    "VISIBILITY_TIMEOUT",
    "WINDOWS",
    "Backlog",
    "CacheUnavailable",
    "Command",
    "Config",
    "ConfigError",
    "Counts",
    "CountsCache",
    "DeadLetter",
    "Delivery",
    "Health",
    "Hit",
    "HitStore",
    "HitcountError",
    "HitsRefused",
    "InvalidBatch",
    "InvalidHit",
    "MemoryCache",
    "Queue",
    "QueueFull",
    "QueueUnavailable",
    "Registry",
    "Runtime",
    "Served",
    "Setting",
    "SqliteQueue",
    "StoreError",
    "StoreUnavailable",
    "UnknownBackend",
    "UnknownWindow",
    "Window",
    "hookimpl",
    "now_ns",
    "parse_csv",
    "parse_duration",
    "parse_positive_int",
    "window_named",
]
