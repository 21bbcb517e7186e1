"""The ``elastic`` store's hooks: its settings, its timing rule and its backend, without importing the client."""

from __future__ import annotations

from hitcount.core import Config, HitStore, Registry, hookimpl
from hitcount.store_elastic import settings, timing


def open_store(config: Config) -> HitStore:
    """Open the store ``HITCOUNT_STORE=elastic`` selects; the client library is imported only now."""
    from hitcount.store_elastic.store import ElasticStore

    return ElasticStore.from_config(config)


@hookimpl
def hitcount_register_settings(registry: Registry) -> None:
    """Every ``HITCOUNT_ELASTIC_*`` setting, and the rule that a store write ends within the visibility timeout."""
    registry.add_settings(*settings.SETTINGS)
    registry.add_rules(*timing.RULES)


@hookimpl
def hitcount_register_backends(registry: Registry) -> None:
    """The ``elastic`` store: the client's sockets are gevent's once it patches them, so it is
    called on the event loop, not on a thread."""
    registry.add_store("elastic", open_store, blocking=False)
