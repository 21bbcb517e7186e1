"""The windows, their order, their edges, and the answer's JSON shape."""

from __future__ import annotations

import pytest

from hitcount.core import WINDOWS, Counts, UnknownWindow, Window, window_named
from hitcount.core.windows import NS_PER_SECOND


def test_windows_are_listed_longest_first_with_the_spec_references() -> None:
    assert [window.reference for window in WINDOWS] == [
        "3 days ago",
        "2 days ago",
        "1 day ago",
        "1 hour ago",
        "5 minutes ago",
    ]
    assert [window.length // NS_PER_SECOND for window in WINDOWS] == [259_200, 172_800, 86_400, 3_600, 300]


def test_a_window_is_open_below_and_closed_above() -> None:
    now = 10**18
    five = WINDOWS[-1]
    assert not five.contains(now - five.length, now)
    assert five.contains(now - five.length + 1, now)
    assert five.contains(now, now)
    assert not five.contains(now + 1, now)


def test_counts_render_as_the_spec_json() -> None:
    assert Counts("x", 0, (5, 4, 3, 2, 1)).to_json() == {
        "id": "x",
        "counts": [
            {"reference": "3 days ago", "count": 5},
            {"reference": "2 days ago", "count": 4},
            {"reference": "1 day ago", "count": 3},
            {"reference": "1 hour ago", "count": 2},
            {"reference": "5 minutes ago", "count": 1},
        ],
    }


def test_reference_counting_is_cumulative() -> None:
    now = 10**18
    ages = [0, 299, 301, 3_599, 3_601, 86_399, 86_401, 172_799, 172_801, 259_199, 259_201]
    counts = Counts.of_timestamps("x", now, [now - age * NS_PER_SECOND for age in ages])
    assert counts.values == (10, 8, 6, 4, 2)


def test_every_window_has_a_distinct_short_name() -> None:
    assert [window.name for window in WINDOWS] == ["3d", "2d", "1d", "1h", "5m"]


@pytest.mark.parametrize("window", WINDOWS, ids=[window.name for window in WINDOWS])
def test_a_window_is_named_by_its_short_name_or_its_reference(window: Window) -> None:
    assert window_named(window.name) is window
    assert window_named(window.reference) is window


@pytest.mark.parametrize("name", ["1w", "1 week ago", "1H", "", "5 minutes"])
def test_an_unknown_window_name_is_refused_with_the_names_there_are(name: str) -> None:
    with pytest.raises(UnknownWindow, match=r"is not one of: 3d, 2d, 1d, 1h, 5m \(or a reference"):
        window_named(name)


def test_an_unknown_window_name_is_repeated_cut_short() -> None:
    with pytest.raises(UnknownWindow) as raised:
        window_named("x" * 1000)
    assert len(str(raised.value)) < 200
