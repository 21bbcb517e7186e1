import pytest

from hitcount.core.testing import HitStoreConformance


class TestFilesStore(HitStoreConformance):
    backend = "files"
    # Written before visitors were counted: it answers counts without them, which the suite checks.
    counts_visitors = False

    @pytest.fixture
    def outage(self) -> None:
        pytest.skip("a directory has no server to lose")
