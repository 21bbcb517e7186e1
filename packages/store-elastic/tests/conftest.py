"""The fixtures of :mod:`elastic_testing`, made visible to every test here."""

from elastic_testing import admin, config, elastic_url, open_store, prefix

__all__ = ["admin", "config", "elastic_url", "open_store", "prefix"]
