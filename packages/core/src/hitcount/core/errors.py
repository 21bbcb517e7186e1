"""Exceptions shared by every hitcount package.

Front ends map them to answers (the API turns ``QueueUnavailable`` into 503), so
backends raise these rather than their client library's own errors.
"""

from collections.abc import Mapping


class HitcountError(Exception):
    """Base class of every error hitcount raises on purpose."""


class ConfigError(HitcountError):
    """A setting is missing or malformed; the message names the variable and the value."""


class UnknownBackend(ConfigError):
    """``HITCOUNT_QUEUE`` or ``HITCOUNT_STORE`` names a backend that no installed plugin provides."""


class InvalidHit(HitcountError, ValueError):
    """A hit's id or timestamp breaks the rules of :class:`hitcount.core.Hit`."""


class UnknownWindow(HitcountError, ValueError):
    """A name that is neither the short name nor the reference of a count window (:mod:`hitcount.core.windows`)."""


class InvalidBatch(HitcountError, ValueError):
    """A queue payload that does not decode to a valid batch; the indexer dead-letters it."""


class QueueUnavailable(HitcountError):
    """The queue cannot take or give batches right now (backend down or timing out)."""


class QueueFull(QueueUnavailable):
    """The queue's backlog is at its configured maximum; publishing must wait."""


class StoreError(HitcountError):
    """The store refused a batch for a reason retrying will not fix."""


class HitsRefused(StoreError):
    """The store holds every hit of a write except those it refused for good.

    ``refused`` maps the position of each refused hit in the write to the store's reason,
    so that the indexer sets aside those hits alone instead of their whole batch.
    """

    def __init__(self, message: str, refused: Mapping[int, str]) -> None:
        super().__init__(message)
        self.refused = dict(refused)


class StoreUnavailable(HitcountError):
    """The store cannot be reached or is overloaded; the same call may succeed later."""


class CacheUnavailable(HitcountError):
    """The counts cache cannot answer right now; readers go on without it."""
