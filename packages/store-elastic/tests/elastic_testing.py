"""Fixtures for the elastic store's tests (``conftest.py`` re-exports them): a real Elasticsearch, fresh prefixes.

``HITCOUNT_ELASTIC_URL`` names the cluster, one node or several comma-separated (nox
passes a single node or the 3-node cluster ``scripts/services.py`` started). Every test
gets its own prefix, so its daily indices and template are its own; they are deleted
afterwards.
"""

from __future__ import annotations

import datetime
import json
import os
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from importlib import metadata

import pytest
from elasticsearch import Elasticsearch

from hitcount.core.config import Config
from hitcount.core.windows import NS_PER_SECOND
from hitcount.store_elastic.settings import parse_urls
from hitcount.store_elastic.store import ElasticStore
from hitcount.store_elastic.testing import delete_prefix

StoreOpener = Callable[..., ElasticStore]
# 2024-03-01T00:00:00Z, a UTC midnight after a leap day, for hits at known days.
MIDNIGHT = int(datetime.datetime(2024, 3, 1, tzinfo=datetime.timezone.utc).timestamp()) * NS_PER_SECOND


def _server_versions(url: str) -> set[str]:
    # Plain HTTP: a client of the wrong major version could not even ask. Every node answers for all.
    with urllib.request.urlopen(f"{parse_urls(url)[0]}/_nodes?filter_path=nodes.*.version", timeout=10) as answer:
        return {node["version"] for node in json.load(answer)["nodes"].values()}


@pytest.fixture(scope="session")
def elastic_url() -> str:
    """The cluster under test, checked to run the client's major version."""
    url = os.environ.get("HITCOUNT_ELASTIC_URL")
    if not url:
        pytest.fail(
            "HITCOUNT_ELASTIC_URL is not set: these tests need a real Elasticsearch"
            " (run `nox -s store_elastic`, or `scripts/services.py up elastic9` and export its URL)"
        )
    client = metadata.version("elasticsearch")
    servers = _server_versions(url)
    if {version.split(".")[0] for version in servers} != {client.split(".")[0]}:
        pytest.fail(f"elasticsearch client {client} cannot talk to server {servers} at {url}")
    return url


@pytest.fixture(scope="session")
def admin(elastic_url: str) -> Iterator[Elasticsearch]:
    """One client shared by every test, to look behind the store's back and to clean up."""
    client = Elasticsearch(list(parse_urls(elastic_url)), request_timeout=30)
    yield client
    client.close()


@pytest.fixture
def prefix(admin: Elasticsearch) -> Iterator[str]:
    """An index prefix of this test alone; its indices and template are deleted afterwards."""
    prefix = f"hitcount-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    delete_prefix(admin, prefix)


@pytest.fixture
def config(elastic_url: str, prefix: str) -> Config:
    return Config({"HITCOUNT_ELASTIC_URL": elastic_url, "HITCOUNT_ELASTIC_INDEX_PREFIX": prefix})


@pytest.fixture
def open_store(config: Config) -> Iterator[StoreOpener]:
    """Opens stores on this test's prefix, with settings overridden as keyword ``HITCOUNT_*`` values."""
    opened: list[ElasticStore] = []

    def open_store(**overrides: str) -> ElasticStore:
        opened.append(ElasticStore.from_config(config.with_overrides(overrides)))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()
