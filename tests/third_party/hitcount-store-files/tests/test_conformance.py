import pytest

from hitcount.core.testing import HitStoreConformance


class TestFilesStore(HitStoreConformance):
    backend = "files"

    @pytest.fixture
    def outage(self) -> None:
        pytest.skip("a directory has no server to lose")
