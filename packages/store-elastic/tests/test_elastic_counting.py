"""How a count is cut into spans of daily indices (:mod:`hitcount.store_elastic.counting`), checked against
counting every hit: pure logic, no Elasticsearch."""

from __future__ import annotations

from elastic_testing import MIDNIGHT
from hypothesis import given
from hypothesis import strategies as st

from hitcount.core.windows import NS_PER_DAY, NS_PER_HOUR
from hitcount.store_elastic.counting import Span, spans
from hitcount.store_elastic.layout import MOST_NAMED_DAYS, Layout

LAYOUT = Layout("hits")
# Instants within five days of a midnight, often on hour and day boundaries and a nanosecond off them.
INSTANTS = st.one_of(
    st.integers(MIDNIGHT - 5 * NS_PER_DAY, MIDNIGHT + 5 * NS_PER_DAY),
    st.builds(
        lambda hours, off: MIDNIGHT + hours * NS_PER_HOUR + off, st.integers(-120, 120), st.sampled_from([-1, 0, 1])
    ),
)


def counted(span: Span, timestamps: list[int]) -> int:
    """What Elasticsearch would count for ``span``: the hits of its index's day within its bounds."""
    day = LAYOUT.day_of(span.index)
    return sum(
        1
        for timestamp in timestamps
        if timestamp // NS_PER_DAY == day
        and (span.start is None or timestamp >= span.start)
        and (span.end is None or timestamp < span.end)
    )


@given(st.lists(INSTANTS, max_size=60), INSTANTS, INSTANTS)
def test_the_spans_of_a_count_add_up_to_the_hits_within_its_bounds(timestamps: list[int], a: int, b: int) -> None:
    start, end = min(a, b), max(a, b) + 1
    signed = spans(LAYOUT, start, end)
    assert sum(sign * counted(span, timestamps) for span, sign in signed) == sum(
        1 for timestamp in timestamps if start <= timestamp < end
    )
    for span, _ in signed:
        if span.kept:  # kept by the request cache: bounds that change once an hour at most
            assert all(bound is None or bound % NS_PER_HOUR == 0 for bound in (span.start, span.end))


def test_whole_days_are_term_counts_and_today_is_its_count_less_what_comes_after_now() -> None:
    now = MIDNIGHT + 10 * NS_PER_HOUR + 5
    signed = spans(LAYOUT, MIDNIGHT - 2 * NS_PER_DAY, now + 1)
    assert (Span("hits-2024.02.28"), 1) in signed
    assert (Span("hits-2024.02.29"), 1) in signed
    assert (Span("hits-2024.03.01"), 1) in signed
    assert [span for span, sign in signed if sign < 0] == [
        Span("hits-2024.03.01", MIDNIGHT + 11 * NS_PER_HOUR, MIDNIGHT + NS_PER_DAY),
        Span("hits-2024.03.01", now + 1, MIDNIGHT + 11 * NS_PER_HOUR, kept=False),
    ]


def test_a_span_of_many_days_is_one_search_of_every_daily_index() -> None:
    signed = spans(LAYOUT, 0, MIDNIGHT)
    assert signed == [(Span(LAYOUT.daily_pattern, 0, MIDNIGHT, kept=False), 1)]
    assert len({span.index for span, _ in spans(LAYOUT, MIDNIGHT - (MOST_NAMED_DAYS - 1) * NS_PER_DAY, MIDNIGHT)}) > 1
