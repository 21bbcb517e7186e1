"""Test support shipped with hitcount-core for backend packages (needs the ``testing`` extra)."""

import pytest

# Plain asserts in the shipped suites get pytest's detailed failure messages too.
pytest.register_assert_rewrite("hitcount.core.testing.conformance")

from hitcount.core.testing.conformance import (  # noqa: E402
    CountsCacheConformance,
    HitStoreConformance,
    QueueConformance,
)
from hitcount.core.testing.outages import Outage, TcpProxy  # noqa: E402

__all__ = ["CountsCacheConformance", "HitStoreConformance", "Outage", "QueueConformance", "TcpProxy"]
