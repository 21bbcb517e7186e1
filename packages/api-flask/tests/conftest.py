"""The fixtures of :mod:`api_testing`, made visible to every test here."""

from api_testing import app, client, make_app

__all__ = ["app", "client", "make_app"]
