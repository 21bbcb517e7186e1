"""Helpers for tests on a real Elasticsearch: cleaning a prefix up, and which node holds what.

Tests of failover kill the node holding a primary shard, since a lost primary is what a
replica must take over; the store's own tests and the end-to-end tests on the clusters
both ask it here.
"""

from __future__ import annotations

from elasticsearch import Elasticsearch

from hitcount.store_elastic.layout import Layout


def delete_prefix(client: Elasticsearch, prefix: str) -> None:
    """Delete every index and template a store with ``prefix`` made."""
    for entry in client.indices.resolve_index(name=f"{prefix}-*", expand_wildcards="all")["indices"]:
        client.indices.delete(index=entry["name"])
    for name in Layout(prefix).template_names:
        client.options(ignore_status=404).indices.delete_index_template(name=name)


def primary_holders(client: Elasticsearch, index: str) -> list[tuple[str, int]]:
    """The name and process id of the node holding each primary shard of ``index`` (a name or a pattern)."""
    placement = client.search_shards(index=index)
    holders = []
    for node_id in [copy["node"] for copies in placement["shards"] for copy in copies if copy["primary"]]:
        [node] = client.nodes.info(node_id=node_id, metric="process")["nodes"].values()
        holders.append((str(placement["nodes"][node_id]["name"]), int(node["process"]["id"])))
    return holders
