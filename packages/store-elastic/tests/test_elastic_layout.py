"""Daily indices: which index a hit goes to, which indices a count reads, which retention deletes."""

from __future__ import annotations

from elastic_testing import MIDNIGHT, StoreOpener
from elasticsearch import Elasticsearch

from hitcount.core.hit import Hit
from hitcount.core.rollups import seal_line
from hitcount.core.windows import LONGEST, NS_PER_DAY, NS_PER_SECOND, Counts
from hitcount.store_elastic.layout import Layout, timestamp_text

HOUR = 3600 * NS_PER_SECOND


def _indices(admin: Elasticsearch, prefix: str) -> dict[str, int]:
    """Every daily index of ``prefix`` with its number of documents."""
    daily = Layout(prefix).daily_pattern
    admin.indices.refresh(index=daily)
    stats = admin.indices.stats(index=daily, metric="docs")["indices"]
    return {index: stat["primaries"]["docs"]["count"] for index, stat in stats.items()}


def test_timestamps_are_written_with_all_nine_fractional_digits_in_utc() -> None:
    assert timestamp_text(MIDNIGHT) == "2024-03-01T00:00:00.000000000Z"
    assert timestamp_text(MIDNIGHT - 1) == "2024-02-29T23:59:59.999999999Z"
    assert timestamp_text(MIDNIGHT + 1_000_001) == "2024-03-01T00:00:00.001000001Z"


def test_a_hit_goes_to_the_index_of_its_own_utc_day() -> None:
    layout = Layout("hits")
    assert layout.index_of(MIDNIGHT - 1) == "hits-2024.02.29"
    assert layout.index_of(MIDNIGHT) == "hits-2024.03.01"
    assert layout.index_of(0) == "hits-1970.01.01"


def test_counts_read_the_four_days_that_can_hold_the_last_three_days() -> None:
    layout = Layout("hits")
    noon = MIDNIGHT + 12 * HOUR
    assert layout.indices_since(LONGEST.start(noon), noon) == [
        "hits-2024.02.27",
        "hits-2024.02.28",
        "hits-2024.02.29",
        "hits-2024.03.01",
    ]
    # At midnight the oldest window starts exactly at a midnight: that day's index is still read.
    assert layout.indices_since(LONGEST.start(MIDNIGHT), MIDNIGHT)[0] == "hits-2024.02.27"


def test_only_indices_whose_day_ended_at_or_before_the_cutoff_expire() -> None:
    layout = Layout("hits")
    names = [
        "hits-2024.02.28",
        "hits-2024.02.29",
        "hits-2024.03.01",
        "hits-other",
        "hits-2024.13.01",
        "other-2024.01.01",
    ]
    assert layout.expired(names, MIDNIGHT) == ["hits-2024.02.28", "hits-2024.02.29"]
    assert layout.expired(names, MIDNIGHT - 1) == ["hits-2024.02.28"]
    assert layout.expired(names, MIDNIGHT - NS_PER_DAY) == ["hits-2024.02.28"]
    assert layout.expired(names, MIDNIGHT - NS_PER_DAY - 1) == []


def test_template_priority_lets_the_longer_of_two_overlapping_prefixes_win() -> None:
    assert Layout("hits-staging").template()["priority"] > Layout("hits").template()["priority"]


def test_template_digest_changes_with_the_settings_and_only_with_them() -> None:
    digest = Layout("hits").template()["_meta"]["digest"]
    assert Layout("hits").template()["_meta"]["digest"] == digest
    assert Layout("hits", shards=2).template()["_meta"]["digest"] != digest
    assert Layout("hits", refresh_interval=5).template()["_meta"]["digest"] != digest


def test_hits_around_utc_midnight_land_in_their_own_days_and_count_across_the_boundary(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    store = open_store()
    hits = [Hit("midnight", MIDNIGHT + offset) for offset in (-HOUR, -1, 0, 1, HOUR)]
    store.write(hits)
    store.refresh()
    assert _indices(admin, prefix) == {f"{prefix}-2024.02.29": 2, f"{prefix}-2024.03.01": 3}
    now = MIDNIGHT + 4 * 60 * NS_PER_SECOND  # the five-minute window starts at 23:59 the day before
    expected = Counts.of_hits("midnight", now, [(hit.timestamp, None) for hit in hits])
    assert store.counts("midnight", now) == expected
    assert store.counts("midnight", now).values == (4, 4, 4, 3, 3)


def test_purge_deletes_only_indices_older_than_the_cutoff_and_keeps_the_counts(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    store = open_store()
    now = MIDNIGHT + 12 * HOUR
    hits = [Hit("kept", now - days * NS_PER_DAY) for days in range(6)]  # noon of six days
    store.write(hits)
    store.refresh()
    before = store.counts("kept", now)
    assert store.purge(now - 4 * NS_PER_DAY) == 0  # no hour is sealed yet
    store.seal(seal_line(now))
    assert store.purge(now - 4 * NS_PER_DAY) == 1  # the day of `now - 5 days` ended before the cutoff
    assert sorted(_indices(admin, prefix)) == [f"{prefix}-2024.02.{day}" for day in (26, 27, 28, 29)] + [
        f"{prefix}-2024.03.01"
    ]
    assert store.counts("kept", now) == before == Counts("kept", now, (3, 2, 1, 1, 1), (0,) * 5, 6)


def test_purge_at_a_midnight_keeps_the_index_of_the_day_that_starts_there(
    open_store: StoreOpener, admin: Elasticsearch, prefix: str
) -> None:
    store = open_store()
    store.write([Hit("edge", MIDNIGHT - 1), Hit("edge", MIDNIGHT)])
    store.seal(MIDNIGHT + NS_PER_DAY)
    assert store.purge(MIDNIGHT) == 1
    assert _indices(admin, prefix) == {f"{prefix}-2024.03.01": 1}
