"""The ``HITCOUNT_ELASTIC_*`` settings: where the cluster is, how to log in, and how indices are laid out.

Parsing only; nothing here imports the Elasticsearch client, so registering these
settings costs nothing when another store is configured.
"""

from __future__ import annotations

import re

from hitcount.core.config import (
    Setting,
    parse_csv,
    parse_duration,
    parse_optional_file,
    parse_positive_duration,
    parse_positive_int,
)

# Elasticsearch's own rules for index names, minus uppercase (which it rejects too).
_INDEX_PREFIX = re.compile(r"^[a-z0-9][a-z0-9._-]{0,199}$")
_AUTO_EXPAND = re.compile(r"^\d+-(\d+|all)$")


def parse_urls(text: str) -> tuple[str, ...]:
    """One or more comma-separated ``http(s)://host:port`` node URLs."""
    urls = parse_csv(text)
    if not urls:
        raise ValueError("expected at least one URL such as http://127.0.0.1:9200")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
    return urls


def parse_index_prefix(text: str) -> str:
    """A lowercase index-name prefix; daily indices are named ``<prefix>-YYYY.MM.DD``."""
    value = text.strip()
    if not _INDEX_PREFIX.match(value):
        raise ValueError(
            "expected lowercase letters, digits, '.', '_' or '-', starting with a letter or digit (at most 200)"
        )
    return value


def parse_replicas(text: str) -> int | str:
    """A fixed number of replicas (``1``) or an ``auto_expand_replicas`` range (``0-1``, ``0-all``)."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    if _AUTO_EXPAND.match(value):
        return value
    raise ValueError("expected a number of replicas (e.g. 1) or a range such as 0-1 or 0-all")


URL = Setting(
    "HITCOUNT_ELASTIC_URL",
    "http://127.0.0.1:9200",
    "Elasticsearch node URL(s), comma-separated; the client's major version must match the server's.",
    parse_urls,
    url=True,
)
API_KEY = Setting(
    "HITCOUNT_ELASTIC_API_KEY",
    "",
    "Encoded API key (the 'encoded' value Elasticsearch returns); instead of a username and password.",
    str,
    secret=True,
)
USERNAME = Setting("HITCOUNT_ELASTIC_USERNAME", "", "User for HTTP basic authentication.", str)
PASSWORD = Setting("HITCOUNT_ELASTIC_PASSWORD", "", "Password of HITCOUNT_ELASTIC_USERNAME.", str, secret=True)
CA_CERTS = Setting(
    "HITCOUNT_ELASTIC_CA_CERTS",
    "",
    "PEM file of the CA that signed the cluster's HTTPS certificate (e.g. ES 8's http_ca.crt); "
    "empty trusts the system's CAs. Certificates are always verified.",
    parse_optional_file,
)
TIMEOUT = Setting(
    "HITCOUNT_ELASTIC_TIMEOUT",
    "10s",
    "How long one request to Elasticsearch may take before the store reports it unavailable.",
    parse_positive_duration,
)
INDEX_PREFIX = Setting(
    "HITCOUNT_ELASTIC_INDEX_PREFIX",
    "hitcount-hits",
    "Hits go to one index per UTC day, <prefix>-YYYY.MM.DD; the index template is named <prefix>.",
    parse_index_prefix,
)
SHARDS = Setting(
    "HITCOUNT_ELASTIC_SHARDS",
    "1",
    "Primary shards of each daily index (applies to indices created after a change).",
    parse_positive_int,
)
REPLICAS = Setting(
    "HITCOUNT_ELASTIC_REPLICAS",
    "0-1",
    "Replicas of each daily index: a number, or a range such as 0-1 (one replica once a second node exists).",
    parse_replicas,
)
REFRESH_INTERVAL = Setting(
    "HITCOUNT_ELASTIC_REFRESH_INTERVAL",
    "30s",
    "How often new hits become countable; longer makes indexing cheaper (the product allows minutes).",
    parse_duration,
)

SETTINGS = (URL, API_KEY, USERNAME, PASSWORD, CA_CERTS, TIMEOUT, INDEX_PREFIX, SHARDS, REPLICAS, REFRESH_INTERVAL)
