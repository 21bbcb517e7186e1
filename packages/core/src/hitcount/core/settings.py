"""Core's own settings: which backends to use, where embedded data lives, how long hits are kept."""

from __future__ import annotations

from pathlib import Path

from hitcount.core.config import Setting, format_duration, parse_csv, parse_duration
from hitcount.core.markers import hookimpl
from hitcount.core.queue import VISIBILITY_TIMEOUT
from hitcount.core.registry import Registry
from hitcount.core.rollups import LATENESS, SEAL_MARGIN
from hitcount.core.windows import NS_PER_SECOND


def _name(text: str) -> str:
    if not text.strip():
        raise ValueError("expected a backend name")
    return text.strip()


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return level


def _retention(text: str) -> float:
    seconds = parse_duration(text)
    # Until an hour is sealed, its hits are all its total has (hitcount.core.rollups).
    shortest = (LATENESS + SEAL_MARGIN) / NS_PER_SECOND
    if seconds < shortest:
        raise ValueError(
            f"must be at least {format_duration(shortest)} ({shortest / 3600:.0f}h): a hit may come"
            f" {format_duration(LATENESS / NS_PER_SECOND)} late (the longest window), and its hour is rolled up"
            f" into the totals {format_duration(SEAL_MARGIN / NS_PER_SECOND)} after that"
        )
    return seconds


QUEUE = Setting("HITCOUNT_QUEUE", "sqlite", "Name of the queue backend (see `hitcount plugins`).", _name)
STORE = Setting("HITCOUNT_STORE", "sqlite", "Name of the store backend (see `hitcount plugins`).", _name)
CACHE = Setting(
    "HITCOUNT_CACHE",
    "sqlite",
    "Name of the counts cache (see `hitcount plugins`), whose last counts reads answer while the store cannot:"
    " sqlite keeps one per host, redis (hitcount-queue-redis) one for the whole fleet.",
    _name,
)
DATA_DIR = Setting("HITCOUNT_DATA_DIR", "./var", "Directory of the embedded backends' files.", Path)
RETENTION = Setting(
    "HITCOUNT_RETENTION",
    "7d",
    "Hits older than this are deleted (their hourly counts are kept for totals); at least 3 days and 1 hour.",
    _retention,
)
DISABLE_PLUGINS = Setting(
    "HITCOUNT_DISABLE_PLUGINS",
    "",
    "Comma-separated entry-point names of installed plugins not to load (see `hitcount plugins`).",
    parse_csv,
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_LEVEL = Setting("HITCOUNT_LOG_LEVEL", "INFO", "Logging level of every hitcount process.", _log_level)


@hookimpl
def hitcount_register_settings(registry: Registry) -> None:
    """Core's settings."""
    registry.add_settings(QUEUE, STORE, CACHE, DATA_DIR, RETENTION, LOG_LEVEL, VISIBILITY_TIMEOUT, DISABLE_PLUGINS)
