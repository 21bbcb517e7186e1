"""What the API does not let operators set: the values that tune its timing and its bounds.

Each is a promise kept at one value rather than a setting to document and test in every
combination; tests that need another value (a short client timeout, a tiny spool) build the
app with a :class:`Tuning` of their own (:func:`~hitcount.api_flask.app.create_app`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tuning:
    """The API's fixed values, in seconds, bytes and counts."""

    # How long a client has to send a request's head and body; then its connection is closed
    # (408 once part of the request came).
    client_timeout: float = 10.0
    # How long an idle kept-alive connection is held waiting for its next request (gunicorn's keepalive).
    keepalive: int = 5
    # Largest request body the API reads, before and after gzip decompression; larger ones get 413.
    max_body: int = 64 * 1024
    # Connections a worker holds at once (gunicorn's worker_connections); the API raises its open-files
    # limit to match.
    worker_connections: int = 10_000
    # How long a worker gathers the hits of concurrent requests before writing them to the queue at once.
    commit_interval: float = 0.002
    # Longest a Track request waits for the queue to take its hits before answering 503 (and how long
    # /readyz waits for each backend's health).
    enqueue_timeout: float = 1.0
    # Longest a read waits for the store; then it answers the last counts kept, stale, with their Age.
    read_timeout: float = 1.0
    # Counts younger than this are answered without asking the store (and fresh answers say
    # Cache-Control: max-age=this).
    read_max_age: float = 2.0
    # Store reads (of different ids) a worker runs at once; a read of one more id answers its last
    # counts kept, stale, or 503 with Retry-After at once.
    read_concurrency: int = 32
    # Length of the IPv6 prefix whose addresses share one client's rate limits (one /64 is one
    # subscriber's usual block); IPv4 clients are limited per address.
    rate_limit_ipv6_prefix: int = 64
    # Hits a host keeps in its spool while the queue is down (besides HITCOUNT_SPOOL_MAX_BYTES);
    # beyond, Track answers 503.
    spool_max_hits: int = 1_000_000
    # User agents whose bot-or-not verdict a worker keeps, the most recently seen (hitcount.api_flask.drops):
    # more than the distinct agents of a site's visitors, few enough that made-up agents cannot fill memory.
    agent_verdicts: int = 4096
