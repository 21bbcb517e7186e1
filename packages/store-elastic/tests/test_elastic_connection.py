"""Settings, credentials and an unreachable cluster: what the store says and what it never reveals."""

from __future__ import annotations

import logging
import re
import time

import pytest
from elastic_testing import MIDNIGHT, StoreOpener

from hitcount.core.config import Config
from hitcount.core.errors import ConfigError, StoreUnavailable
from hitcount.core.hit import Hit, now_ns
from hitcount.core.testing.processes import free_port
from hitcount.core.windows import NS_PER_SECOND, WINDOWS
from hitcount.store_elastic.store import ElasticStore


@pytest.fixture
def closed_url() -> str:
    """The URL of a loopback port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


def test_an_unreachable_cluster_makes_every_call_raise_store_unavailable_quickly(closed_url: str) -> None:
    store = ElasticStore.from_config(Config({"HITCOUNT_ELASTIC_URL": closed_url}))  # opening does not need the cluster
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=re.escape(closed_url)):
            store.write([Hit.now("down")])
        with pytest.raises(StoreUnavailable):
            store.counts("down", now_ns())
        with pytest.raises(StoreUnavailable):
            store.purge(now_ns())
        assert time.monotonic() - started < 5
        health = store.health()
        assert not health.ok
        assert closed_url in health.detail
    finally:
        store.close()


def test_secrets_appear_in_no_error_health_or_log_message(closed_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with_password = closed_url.replace("http://", "http://ops:url-secret@")
    environ = {
        "HITCOUNT_ELASTIC_URL": f"{with_password},http://127.0.0.1:{free_port()}/?api_key=query-secret",
        "HITCOUNT_ELASTIC_API_KEY": "key-secret",
    }
    with caplog.at_level(logging.DEBUG):
        store = ElasticStore.from_config(Config(environ))
        with pytest.raises(StoreUnavailable) as unavailable:
            store.write([Hit.now("x")])
        detail = store.health().detail
        store.close()
    said = [str(unavailable.value), detail, *(record.getMessage() for record in caplog.records)]
    assert any("ops:****@" in text for text in said)
    assert not [text for text in said if "url-secret" in text or "key-secret" in text or "query-secret" in text]


def test_a_url_the_client_cannot_parse_is_refused_without_showing_its_password() -> None:
    with pytest.raises(ConfigError, match="HITCOUNT_ELASTIC_URL") as raised:
        ElasticStore.from_config(Config({"HITCOUNT_ELASTIC_URL": "http://ops:url-secret@[::1:9200"}))
    assert "url-secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"HITCOUNT_ELASTIC_API_KEY": "k", "HITCOUNT_ELASTIC_USERNAME": "u", "HITCOUNT_ELASTIC_PASSWORD": "p"},
            "set either HITCOUNT_ELASTIC_API_KEY or HITCOUNT_ELASTIC_USERNAME/HITCOUNT_ELASTIC_PASSWORD, not both",
        ),
        ({"HITCOUNT_ELASTIC_USERNAME": "u"}, "must be set together"),
        ({"HITCOUNT_ELASTIC_URL": "127.0.0.1:9200"}, "HITCOUNT_ELASTIC_URL='127.0.0.1:9200' is invalid"),
        ({"HITCOUNT_ELASTIC_INDEX_PREFIX": "Hits"}, "HITCOUNT_ELASTIC_INDEX_PREFIX='Hits' is invalid"),
        ({"HITCOUNT_ELASTIC_INDEX_PREFIX": "_hits"}, "HITCOUNT_ELASTIC_INDEX_PREFIX='_hits' is invalid"),
        ({"HITCOUNT_ELASTIC_REPLICAS": "some"}, "HITCOUNT_ELASTIC_REPLICAS='some' is invalid"),
        ({"HITCOUNT_ELASTIC_SHARDS": "0"}, "HITCOUNT_ELASTIC_SHARDS='0' is invalid"),
        (
            {"HITCOUNT_ELASTIC_CA_CERTS": "/no/such/ca.pem"},
            "HITCOUNT_ELASTIC_CA_CERTS='/no/such/ca.pem' is invalid: no such",
        ),
    ],
)
def test_a_bad_setting_fails_opening_with_a_message_naming_it(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        ElasticStore.from_config(Config(environ))


def test_a_dead_node_in_the_url_list_is_passed_over_for_a_live_one(
    open_store: StoreOpener, elastic_url: str, closed_url: str
) -> None:
    store = open_store(HITCOUNT_ELASTIC_URL=f"{closed_url},{elastic_url}")
    for _ in range(3):  # whichever node each request starts with
        store.write([Hit("listed", MIDNIGHT)])
    store.refresh()
    assert store.counts("listed", MIDNIGHT + NS_PER_SECOND).values == (3,) * len(WINDOWS)
