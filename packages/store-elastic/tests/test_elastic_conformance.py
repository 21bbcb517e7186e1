"""The elastic store against core's HitStore conformance suite, on a real Elasticsearch."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from hitcount.core.testing import HitStoreConformance


class TestElasticStore(HitStoreConformance):
    backend = "elastic"

    @pytest.fixture
    def isolation(self, prefix: str) -> Mapping[str, str]:
        """The cluster of ``HITCOUNT_ELASTIC_URL``, under indices of this test alone."""
        return {"HITCOUNT_ELASTIC_INDEX_PREFIX": prefix}
