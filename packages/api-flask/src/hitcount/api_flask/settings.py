"""The API's settings, read once per process from ``HITCOUNT_*`` variables."""

from __future__ import annotations

from dataclasses import dataclass

from hitcount.api_flask.proxies import Network, parse_networks
from hitcount.api_flask.ratelimit import Rate, parse_ipv6_prefix, parse_rate
from hitcount.core import Config, Setting
from hitcount.core.config import parse_csv, parse_duration, parse_positive_duration, parse_positive_int, parse_size


def _bind(text: str) -> str:
    if not text.strip():
        raise ValueError("expected HOST:PORT or unix:PATH")
    return text.strip()


BIND = Setting("HITCOUNT_BIND", "127.0.0.1:8000", "Address the API listens on (HOST:PORT or unix:PATH).", _bind)
WORKERS = Setting(
    "HITCOUNT_WORKERS", "2", "Number of API worker processes (gevent, one core each).", parse_positive_int
)
WORKER_CONNECTIONS = Setting(
    "HITCOUNT_WORKER_CONNECTIONS",
    "10000",
    "Connections a worker holds at once (gunicorn's worker_connections); the API raises its open-files limit to match.",
    parse_positive_int,
)
CLIENT_TIMEOUT = Setting(
    "HITCOUNT_CLIENT_TIMEOUT",
    "10s",
    "How long a client has to send a request's head and body; then its connection is closed (408 once part of"
    " the request came).",
    parse_positive_duration,
)
KEEPALIVE = Setting(
    "HITCOUNT_KEEPALIVE",
    "5",
    "Seconds an idle keep-alive connection is held waiting for its next request (gunicorn's keepalive).",
    parse_positive_int,
)
MAX_BODY = Setting(
    "HITCOUNT_MAX_BODY",
    "64KiB",
    "Largest request body the API reads, before and after gzip decompression; larger ones get 413.",
    parse_size,
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
RATE_LIMIT_IPV6_PREFIX = Setting(
    "HITCOUNT_RATE_LIMIT_IPV6_PREFIX",
    "64",
    "Length of the IPv6 prefix whose addresses share one client's rate limits (one /64 is one subscriber's"
    " usual block); IPv4 clients are limited per address.",
    parse_ipv6_prefix,
)
TRUSTED_PROXIES = Setting(
    "HITCOUNT_TRUSTED_PROXIES",
    "",
    "Addresses and CIDR blocks (comma-separated) of the proxies whose X-Forwarded-For tells the client's"
    " address (the right-most address that is not theirs); empty: the connection's address.",
    parse_networks,
)
ENQUEUE_TIMEOUT = Setting(
    "HITCOUNT_API_ENQUEUE_TIMEOUT",
    "1s",
    "Longest a Track request waits for the queue to take its hits before answering 503.",
    parse_duration,
)
COMMIT_INTERVAL = Setting(
    "HITCOUNT_API_COMMIT_INTERVAL",
    "2ms",
    "How long a worker gathers the hits of concurrent requests before writing them to the queue at once.",
    parse_duration,
)


READ_TIMEOUT = Setting(
    "HITCOUNT_READ_TIMEOUT",
    "1s",
    "Longest a read waits for the store; then it answers the last counts kept, stale, with their Age.",
    parse_positive_duration,
)
READ_CONCURRENCY = Setting(
    "HITCOUNT_READ_CONCURRENCY",
    "32",
    "Store reads (of different ids) a worker runs at once; a read of one more id answers its last counts"
    " kept, stale, or 503 with Retry-After at once.",
    parse_positive_int,
)
READ_MAX_AGE = Setting(
    "HITCOUNT_READ_MAX_AGE",
    "2s",
    "Counts younger than this are answered from the counts cache without asking the store"
    " (and fresh answers say Cache-Control: max-age=this).",
    parse_duration,
)

SPOOL_MAX_HITS = Setting(
    "HITCOUNT_SPOOL_MAX_HITS",
    "1000000",
    "Hits a host keeps in its spool while the queue is down; beyond, Track answers 503.",
    parse_positive_int,
)
SPOOL_MAX_BYTES = Setting(
    "HITCOUNT_SPOOL_MAX_BYTES",
    "1024MiB",
    "Bytes of batches a host keeps in its spool while the queue is down, so that it cannot fill the disk"
    " of HITCOUNT_DATA_DIR; beyond, Track answers 503, as beyond HITCOUNT_SPOOL_MAX_HITS.",
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
    "Log a line per request the app answers: method, path (never its query), status, duration and client"
    " address; `hitcount serve` turns it on.",
    _on_off,
)
SETTINGS = (
    BIND,
    WORKERS,
    WORKER_CONNECTIONS,
    CLIENT_TIMEOUT,
    KEEPALIVE,
    MAX_BODY,
    CORS_ORIGINS,
    READ_TOKENS,
    PUBLIC_IDS,
    RATE_LIMIT,
    READ_RATE_LIMIT,
    RATE_LIMIT_IPV6_PREFIX,
    TRUSTED_PROXIES,
    ENQUEUE_TIMEOUT,
    COMMIT_INTERVAL,
    ACCESS_LOG,
    READ_TIMEOUT,
    READ_CONCURRENCY,
    READ_MAX_AGE,
    SPOOL_MAX_HITS,
    SPOOL_MAX_BYTES,
)


@dataclass(frozen=True)
class ApiSettings:
    """The settings a worker's request handling needs, parsed once."""

    max_body: int
    cors_origins: tuple[str, ...]
    read_tokens: tuple[str, ...]
    public_ids: tuple[str, ...]
    rate_limit: Rate | None
    read_rate_limit: Rate | None
    rate_limit_ipv6_prefix: int
    trusted_proxies: tuple[Network, ...]
    enqueue_timeout: float
    commit_interval: float
    read_timeout: float
    read_concurrency: int
    read_max_age: float

    @classmethod
    def from_config(cls, config: Config) -> ApiSettings:
        """Parse every API setting; a malformed one raises :class:`~hitcount.core.ConfigError` naming it."""
        return cls(
            max_body=config.get(MAX_BODY),
            cors_origins=config.get(CORS_ORIGINS),
            read_tokens=config.get(READ_TOKENS),
            public_ids=config.get(PUBLIC_IDS),
            rate_limit=config.get(RATE_LIMIT),
            read_rate_limit=config.get(READ_RATE_LIMIT),
            rate_limit_ipv6_prefix=config.get(RATE_LIMIT_IPV6_PREFIX),
            trusted_proxies=config.get(TRUSTED_PROXIES),
            enqueue_timeout=config.get(ENQUEUE_TIMEOUT),
            commit_interval=config.get(COMMIT_INTERVAL),
            read_timeout=config.get(READ_TIMEOUT),
            read_concurrency=config.get(READ_CONCURRENCY),
            read_max_age=config.get(READ_MAX_AGE),
        )
