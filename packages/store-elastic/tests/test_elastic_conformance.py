"""The elastic store against core's HitStore conformance suite, on a real Elasticsearch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from urllib.parse import urlsplit

import pytest
from elasticsearch import Elasticsearch

from hitcount.core import Hit, HitStore
from hitcount.core.testing import HitStoreConformance, Outage, TcpProxy
from hitcount.store_elastic.layout import Layout
from hitcount.store_elastic.settings import parse_urls


class TestElasticStore(HitStoreConformance):
    backend = "elastic"

    @pytest.fixture
    def isolation(self, prefix: str) -> Mapping[str, str]:
        """The cluster of ``HITCOUNT_ELASTIC_URL``, under indices of this test alone."""
        return {"HITCOUNT_ELASTIC_INDEX_PREFIX": prefix}

    @pytest.fixture
    def refuse(self, admin: Elasticsearch, prefix: str) -> Callable[[HitStore, Hit], None]:
        """The index of the hit's day, closed: the store's hits for it are refused (``index_closed_exception``)."""

        def refuse(store: HitStore, hit: Hit) -> None:
            store.write([hit])  # so that the index of its day exists
            admin.indices.close(index=Layout(prefix).index_of(hit.timestamp))

        return refuse

    @pytest.fixture
    def outage(self, elastic_url: str) -> Iterator[Outage]:
        """A proxy in front of the shared cluster's first node: others use the cluster, so it is the proxy that dies."""
        node = urlsplit(parse_urls(elastic_url)[0])
        proxy = TcpProxy(node.hostname or "127.0.0.1", node.port or 9200)
        credentials, at, _ = node.netloc.rpartition("@")
        proxied = node._replace(netloc=f"{credentials}{at}127.0.0.1:{proxy.port}")
        environment = {"HITCOUNT_ELASTIC_URL": proxied.geturl(), "HITCOUNT_ELASTIC_TIMEOUT": "2s"}
        yield Outage(environment, stop=proxy.stop, hang=proxy.hang)
        proxy.stop()
