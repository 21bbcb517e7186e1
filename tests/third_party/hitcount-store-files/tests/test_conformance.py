import pytest

from hitcount.core.testing import HitStoreConformance


class TestFilesStore(HitStoreConformance):
    backend = "files"
    # Written before visitors were counted: it answers counts without them, which the suite checks.
    counts_visitors = False
    # And before totals: it keeps no rollups, so its total counts the hits it retains, and its purge
    # deletes what it is told.
    keeps_rollups = False
    # Nor does it rank ids: the API answers its rankings 501, which the suite checks it raises for.
    ranks_ids = False
    # Nor does it count hits per hour: the dashboard draws no chart of its ids.
    charts_hours = False

    @pytest.fixture
    def outage(self) -> None:
        pytest.skip("a directory has no server to lose")
