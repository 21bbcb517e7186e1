"""The API's settings, read once per process from ``HITCOUNT_*`` variables (what the API does not let
operators set is in :mod:`hitcount.api_flask.tuning`)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from hitcount.api_flask.proxies import Network, parse_networks
from hitcount.api_flask.ratelimit import Rate, parse_rate
from hitcount.core import Config, Setting
from hitcount.core.config import parse_csv, parse_positive_int, parse_size


def _bind(text: str) -> str:
    if not text.strip():
        raise ValueError("expected HOST:PORT or unix:PATH")
    return text.strip()


BIND = Setting("HITCOUNT_BIND", "127.0.0.1:8000", "Address the API listens on (HOST:PORT or unix:PATH).", _bind)
WORKERS = Setting(
    "HITCOUNT_WORKERS", "2", "Number of API worker processes (gevent, one core each).", parse_positive_int
)
CORS_ORIGINS = Setting(
    "HITCOUNT_CORS_ORIGINS",
    "*",
    "Origins whose pages may send hits and show counts (hitcount.js): * (any page; counts of HITCOUNT_PUBLIC_IDS"
    " only) or a comma-separated list; with a list, a Track request whose Origin is not listed gets 403"
    " (requests without Origin are taken) and reads answer it without CORS headers.",
    parse_csv,
)
READ_TOKENS = Setting(
    "HITCOUNT_READ_TOKENS",
    "",
    "Bearer tokens (comma-separated, several while rotating) that GET /analytics/<id>, /metrics and"
    " /readyz's details require; empty: anyone may read them.",
    parse_csv,
    secret=True,
)
PUBLIC_IDS = Setting(
    "HITCOUNT_PUBLIC_IDS",
    "",
    "Ids anyone may read without a token, as comma-separated glob patterns (badge-*, public/*).",
    parse_csv,
)
RATE_LIMIT = Setting(
    "HITCOUNT_RATE_LIMIT",
    "off",
    "Track requests one client address may send, such as 50/s or 3000/m (a burst of the count, then"
    " its pace), counted by each worker process apart; beyond, 429 with Retry-After. off: no limit.",
    parse_rate,
)
READ_RATE_LIMIT = Setting(
    "HITCOUNT_READ_RATE_LIMIT",
    "100/s",
    "Reads (GET /analytics/<id>, /badge.svg) one client address may send, as HITCOUNT_RATE_LIMIT counts"
    " Track requests; beyond, 429 with Retry-After. Raise it, or set HITCOUNT_TRUSTED_PROXIES, when the"
    " readers come through a proxy. off: no limit.",
    parse_rate,
)
TRUSTED_PROXIES = Setting(
    "HITCOUNT_TRUSTED_PROXIES",
    "",
    "Addresses and CIDR blocks (comma-separated) of the proxies whose X-Forwarded-For tells the client's"
    " address (the right-most address that is not theirs); empty: the connection's address.",
    parse_networks,
)
SPOOL_MAX_BYTES = Setting(
    "HITCOUNT_SPOOL_MAX_BYTES",
    "1024MiB",
    "Bytes of batches a host keeps in its spool while the queue is down, so that it cannot fill the disk"
    " of HITCOUNT_DATA_DIR; beyond, Track answers 503, as beyond a million hits.",
    parse_size,
)


def _on_off(text: str) -> bool:
    value = text.strip().lower()
    if value not in {"on", "off"}:
        raise ValueError("expected on or off")
    return value == "on"


ACCESS_LOG = Setting(
    "HITCOUNT_ACCESS_LOG",
    "off",
    "Log a line per request the app answers: method, path (never its query), status and duration (never the"
    " client's address or agent); `hitcount serve` turns it on.",
    _on_off,
)
COUNT_BOTS = Setting(
    "HITCOUNT_COUNT_BOTS",
    "off",
    "Count the Track hits of crawlers, headless browsers and link previews, which are otherwise answered 204"
    " and left out (told by their User-Agent, with the crawler-user-agents list less its HTTP libraries).",
    _on_off,
)
RESPECT_DNT = Setting(
    "HITCOUNT_RESPECT_DNT",
    "off",
    "Leave out (answer 204 without counting) the Track hits of requests that send DNT: 1 or Sec-GPC: 1.",
    _on_off,
)
COUNT_VISITORS = Setting(
    "HITCOUNT_COUNT_VISITORS",
    "on",
    "Give each Track hit a visitor key (a keyed hash of the UTC day's salt with the client's address and"
    " User-Agent, or with the hit's visitor), by which reads count distinct visitors; the salt is kept in the"
    " queue and deleted after 48 h. off: no salt is made, hits carry no key, and visitors count 0.",
    _on_off,
)
SETTINGS = (
    BIND,
    WORKERS,
    ACCESS_LOG,
    CORS_ORIGINS,
    READ_TOKENS,
    PUBLIC_IDS,
    RATE_LIMIT,
    READ_RATE_LIMIT,
    TRUSTED_PROXIES,
    SPOOL_MAX_BYTES,
    COUNT_BOTS,
    RESPECT_DNT,
    COUNT_VISITORS,
)


@dataclass(frozen=True)
class ApiSettings:
    """Every setting of the API, parsed once per process: by ``hitcount api`` before it starts gunicorn,
    and by gunicorn's master (:func:`process_settings`), whose workers inherit them."""

    bind: str
    workers: int
    access_log: bool
    cors_origins: tuple[str, ...]
    read_tokens: tuple[str, ...]
    public_ids: tuple[str, ...]
    rate_limit: Rate | None
    read_rate_limit: Rate | None
    trusted_proxies: tuple[Network, ...]
    spool_max_bytes: int
    count_bots: bool
    respect_dnt: bool
    count_visitors: bool

    @classmethod
    def from_config(cls, config: Config) -> ApiSettings:
        """Parse every API setting; a malformed one raises :class:`~hitcount.core.ConfigError` naming it."""
        return cls(
            bind=config.get(BIND),
            workers=config.get(WORKERS),
            access_log=config.get(ACCESS_LOG),
            cors_origins=config.get(CORS_ORIGINS),
            read_tokens=config.get(READ_TOKENS),
            public_ids=config.get(PUBLIC_IDS),
            rate_limit=config.get(RATE_LIMIT),
            read_rate_limit=config.get(READ_RATE_LIMIT),
            trusted_proxies=config.get(TRUSTED_PROXIES),
            spool_max_bytes=config.get(SPOOL_MAX_BYTES),
            count_bots=config.get(COUNT_BOTS),
            respect_dnt=config.get(RESPECT_DNT),
            count_visitors=config.get(COUNT_VISITORS),
        )


@functools.cache
def process_settings() -> ApiSettings:
    """The API settings of this process's environment, parsed on first use: gunicorn's master parses
    them (``gunicorn.conf.py``) before it forks, and its workers use the same."""
    return ApiSettings.from_config(Config(os.environ))
