"""The Elasticsearch client of a store, opened from settings, and its errors in core's terms.

Callers of a store (the indexer, the API) only know core's two errors:
:class:`StoreUnavailable` (keep the batch and retry later, answer 503) and
:class:`StoreError` (this request itself is wrong; the indexer dead-letters the batch).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError

from hitcount.core.errors import ConfigError, StoreError, StoreUnavailable
from hitcount.core.masking import Secrets, mask_url
from hitcount.store_elastic.settings import URL

# Statuses of a whole request that blame the request, not the cluster: a malformed
# body, or a body larger than http.max_content_length. Every other status (auth,
# overload, a failing node) says nothing against the request, which may succeed later.
REQUEST_FAULTS = (400, 413)
# The client's own number of retries of a request, which it also keeps when fewer nodes are listed.
CLIENT_RETRIES = 3


def open_client(
    urls: tuple[str, ...],
    timeout: float,
    *,
    api_key: str = "",
    username: str = "",
    password: str = "",
    ca_certs: Path | None = None,
) -> Elasticsearch:
    """A client for the nodes at ``urls`` with these credentials and CA, each request given ``timeout`` seconds.

    No request is made here: the client connects on first use.

    How it rides out a node's death: a request that cannot connect to its node, or loses
    the connection (a killed node), marks that node dead for a while and is sent again at
    once to another listed node, up to once per node (at least the client's usual three
    times). That is safe for every request the store makes: counts and health only read,
    and a bulk ``create`` sent twice meets the first copy's ``_id`` and gets a 409, which
    counts as stored. A whole request answered 429/502/503/504 is retried the same way
    (the client's default).

    A request that *times out* is not sent again (``retry_on_timeout=False``, marked dead
    all the same, so the next request goes elsewhere): a slow node is not a dead one, and
    each retry would add a whole ``HITCOUNT_ELASTIC_TIMEOUT`` to a call whose time the
    indexer's visibility timeout and the API's read timeout are sized for; the store's
    item retries and the indexer's batch retries take over instead.

    No sniffing: the nodes listed are the ones used. Sniffing would replace them with the
    addresses nodes publish, which behind containers, NAT or a proxy are often not the
    addresses this host can reach (and on loopback are the same ones); list every node,
    or a load balancer in front of them.
    """
    options: dict[str, Any] = {}
    if api_key:
        options["api_key"] = api_key
    if username:
        options["basic_auth"] = (username, password)
    if ca_certs is not None:
        options["ca_certs"] = str(ca_certs)
    try:
        return Elasticsearch(
            list(urls),
            request_timeout=timeout,
            max_retries=max(CLIENT_RETRIES, len(urls)),
            retry_on_timeout=False,
            **options,
        )
    except ValueError as error:  # the client's words quote the URL it could not parse, password and all
        raise ConfigError(
            f"{URL.name}={describe_nodes(urls)!r} is invalid: {secrets_of(urls, password, api_key).mask(str(error))}"
        ) from None


def secrets_of(urls: tuple[str, ...], password: str, api_key: str) -> Secrets:
    """What the client's words must not show: the secrets of the node URLs, the password and the API key."""
    return Secrets.of_urls(urls, (password, api_key))


def describe_nodes(urls: tuple[str, ...]) -> str:
    """The node URLs as they may be logged (passwords masked)."""
    return ", ".join(mask_url(url) for url in urls)


@contextmanager
def translated_errors(what: str, secrets: Secrets) -> Iterator[None]:
    """Raise the client's errors inside the block as :class:`StoreError` or :class:`StoreUnavailable`.

    ``what`` opens the message: which cluster, doing what; the client's words follow, with
    ``secrets`` (:func:`secrets_of`) masked where they quote a URL.
    """
    try:
        yield
    except ApiError as error:
        message = f"{what} failed: {secrets.mask(str(error))}"
        if error.meta.status in REQUEST_FAULTS:
            raise StoreError(message) from error
        raise StoreUnavailable(message) from error
    except TransportError as error:
        raise StoreUnavailable(f"{what} failed: {secrets.mask(str(error))}") from error
