"""The elastic store against core's HitStore conformance suite, on a real Elasticsearch."""

from __future__ import annotations

import pytest
from elastic_testing import StoreOpener

from hitcount.core.testing.conformance import HitStoreConformance, StoreFactory


class TestElasticStore(HitStoreConformance):
    @pytest.fixture
    def make_store(self, open_store: StoreOpener) -> StoreFactory:
        return open_store
