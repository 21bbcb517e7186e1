"""The elastic store against core's HitStore conformance suite, on a real Elasticsearch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from urllib.parse import urlsplit

import pytest
from elasticsearch import Elasticsearch

from hitcount.core import Hit, HitStore, now_ns
from hitcount.core.testing import HitStoreConformance, Outage, TcpProxy
from hitcount.core.testing.conformance import StoreFactory
from hitcount.core.windows import NS_PER_SECOND, Counts
from hitcount.store_elastic.layout import Layout
from hitcount.store_elastic.settings import parse_urls


class TestElasticStore(HitStoreConformance):
    backend = "elastic"

    @pytest.mark.skip(reason="Elasticsearch estimates distinct visitors: see the test of the error it makes instead")
    def test_10000_visitors_are_counted_exactly(self, make_store: StoreFactory) -> None:
        """Not met: the ``cardinality`` aggregation is an estimate even below its precision threshold."""

    def test_10000_visitors_are_counted_within_a_thousandth(self, make_store: StoreFactory) -> None:
        """The suite's exact rule, relaxed to what ``cardinality`` promises (:mod:`hitcount.store_elastic.query`).

        Below its threshold Elasticsearch keeps 25 bits of each key's hash and corrects for
        their expected collisions, about n²/2²⁶ (1.5 at 10,000 keys); what is left is off by
        about n/8192 (one standard deviation), and these very keys come out one over at 6,667.
        BENCHMARKS.md ("Visitors") gives the errors measured on random keys.
        """
        now = now_ns()
        step = 3 * 24 * 3600 * NS_PER_SECOND // 20_000  # over three days, every visitor twice
        hits = [Hit("crowd", now - n * step - 1, visitor=(n * 2_654_435_761) % 10_000) for n in range(20_000)]
        store = make_store()
        store.write(hits)
        store.refresh()
        expected = Counts.of_hits("crowd", now, [(hit.timestamp, hit.visitor) for hit in hits]).visitors
        counted = store.counts("crowd", now).visitors
        assert expected is not None
        assert counted is not None
        for window, (got, wanted) in enumerate(zip(counted, expected, strict=True)):
            assert abs(got - wanted) <= max(2, wanted // 1000), (window, counted, expected)

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
