"""The index template the store installs, and the daily indices it shapes, on a real Elasticsearch."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from elastic_testing import StoreOpener
from elasticsearch import BadRequestError, Elasticsearch

from hitcount.core.hit import Hit, now_ns
from hitcount.store_elastic.layout import Layout, timestamp_text
from hitcount.store_elastic.store import ElasticStore


def _daily_index(store: ElasticStore, admin: Elasticsearch, prefix: str) -> tuple[str, dict[str, Any]]:
    """Write one hit; return its daily index and that index's settings and mappings."""
    hit = Hit.now("shape")
    store.write([hit])
    index = Layout(prefix).index_of(hit.timestamp)
    return index, admin.indices.get(index=index)[index]


def test_the_first_write_creates_a_daily_index_with_the_templates_mapping_and_settings(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    _, shape = _daily_index(open_store(), admin, prefix)
    assert shape["mappings"] == {
        "dynamic": "strict",
        "properties": {
            "@timestamp": {"type": "date_nanos", "format": "strict_date_optional_time_nanos"},
            "id": {"type": "keyword"},
            "visitor": {"type": "long", "index": False, "doc_values": False},
        },
    }
    settings = shape["settings"]["index"]
    assert settings["sort"] == {"field": ["id", "@timestamp"], "order": ["asc", "asc"]}
    assert settings["refresh_interval"] == "30000ms"
    assert settings["translog"]["durability"] == "request"
    assert settings["write"]["wait_for_active_shards"] == "1"
    assert settings["auto_expand_replicas"] == "0-1"
    assert settings["number_of_shards"] == "1"


def test_the_first_keyed_hit_creates_the_visitors_index_with_its_own_template(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    open_store().write([Hit("shape", now_ns(), visitor=1)])
    index = f"{prefix}-visitors"
    shape = admin.indices.get(index=index)[index]
    assert shape["mappings"] == {
        "dynamic": "strict",
        "properties": {
            "@timestamp": {"type": "date_nanos", "format": "strict_date_optional_time_nanos"},
            "id": {"type": "keyword"},
        },
    }
    assert shape["settings"]["index"]["sort"] == {"field": ["id", "@timestamp"], "order": ["asc", "asc"]}
    assert shape["settings"]["index"]["translog"]["durability"] == "request"


def test_a_daily_index_made_before_visitors_takes_visitor_keys_once_a_store_opens(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    hit = Hit("upgraded", now_ns(), visitor=42)
    index = Layout(prefix).index_of(hit.timestamp)
    # Today's index as the template before visitors made it: the same body without the field.
    older = copy.deepcopy(Layout(prefix).template()["template"])
    del older["mappings"]["properties"]["visitor"]
    admin.indices.create(index=index, settings=older["settings"], mappings=older["mappings"])
    store = open_store()
    store.write([hit, Hit.now("upgraded")])
    store.refresh()
    assert admin.indices.get_mapping(index=index)[index]["mappings"]["properties"]["visitor"] == {
        "type": "long",
        "index": False,
        "doc_values": False,
    }
    counts = store.counts("upgraded", now_ns())
    assert (counts.values, counts.visitors) == ((2,) * 5, (1,) * 5)


def test_replicas_and_shards_settings_shape_new_daily_indices(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    store = open_store(
        HITCOUNT_ELASTIC_REPLICAS="0", HITCOUNT_ELASTIC_SHARDS="2", HITCOUNT_ELASTIC_REFRESH_INTERVAL="5s"
    )
    _, shape = _daily_index(store, admin, prefix)
    settings = shape["settings"]["index"]
    assert (settings["number_of_replicas"], settings["number_of_shards"]) == ("0", "2")
    assert "auto_expand_replicas" not in settings
    assert settings["refresh_interval"] == "5000ms"


def test_a_document_with_an_unknown_field_is_refused_by_the_mapping(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    index, _ = _daily_index(open_store(), admin, prefix)
    document = {"id": "x", "@timestamp": timestamp_text(now_ns()), "referrer": "elsewhere"}
    with pytest.raises(BadRequestError, match="strict_dynamic_mapping_exception"):
        admin.index(index=index, document=document)


def test_opening_again_with_the_same_settings_leaves_the_templates_alone(
    open_store: StoreOpener, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hitcount.store_elastic.store"):
        open_store()
        open_store()
    installed = [record.getMessage() for record in caplog.records if "installed index template" in record.getMessage()]
    names = [repr(prefix), repr(f"{prefix}-visitors"), repr(f"{prefix}-rollups")]
    assert [message.split()[3] for message in installed] == names  # each once


def test_opening_with_other_settings_replaces_the_template(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    open_store()
    open_store(HITCOUNT_ELASTIC_SHARDS="3")
    [template] = admin.indices.get_index_template(name=prefix)["index_templates"]
    assert template["index_template"]["template"]["settings"]["index"]["number_of_shards"] == "3"


def test_health_reinstalls_a_deleted_template_and_reports_it(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    store = open_store()
    admin.indices.delete_index_template(name=prefix)
    health = store.health()
    assert health.ok, health.detail
    assert f"templates {prefix!r}, '{prefix}-visitors', '{prefix}-rollups' installed" in health.detail
    assert admin.indices.exists_index_template(name=prefix)
