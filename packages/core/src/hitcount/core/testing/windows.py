"""Hit ages derived from :data:`~hitcount.core.WINDOWS`, so that tests cover a window added there."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from hitcount.core.windows import NS_PER_SECOND, WINDOWS


def one_age_per_window() -> list[float]:
    """Seconds before now inside each window but outside the next shorter one, longest first.

    Each lies halfway between two window edges, far from both, so that a test that
    takes minutes to see its hits counted still sees each in the windows it was meant for.
    """
    lengths = [window.length / NS_PER_SECOND for window in WINDOWS] + [0.0]
    return [(longer + shorter) / 2 for longer, shorter in itertools.pairwise(lengths)]


def expected_counts(hits_by_age: Mapping[float, int]) -> list[int]:
    """The count of each window, longest first, for ``hits_by_age`` (seconds before now -> hits)."""
    return [sum(hits for age, hits in hits_by_age.items() if age * NS_PER_SECOND < window.length) for window in WINDOWS]
