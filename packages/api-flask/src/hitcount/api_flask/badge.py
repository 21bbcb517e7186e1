"""The SVG of ``GET /badge.svg``: a label and a count side by side, in the usual flat badge style.

A badge shows one :data:`METRICS` of its window: the hits counted (``count``, the default) or the
distinct visitors among them (``visitors``); or, for the window :data:`~hitcount.core.windows.TOTAL`, every hit ever
counted (:attr:`Counts.total`). A store that does not count visitors, or keeps no total, has no
number to show: the badge says "n/a" (:data:`NOT_COUNTED`) in grey rather than an error, since
nothing about the query is wrong and another store would answer it (visitors have no total).

Text widths are estimated from classes of characters in Verdana 11px (the font badges are
drawn in, with fallbacks of about its width), close enough that the text fits its box.
Every piece of text is XML-escaped; a label is at most :data:`MAX_LABEL` characters of
printable text, so that a badge stays small and an SVG never holds a control character
(XML forbids most of them).

A badge that cannot show its count shows why instead (:func:`render_error`): "hitcount" beside
a few words in red, the whole message in its title. An ``<img>`` shows an SVG whatever the
status, where the JSON of an error would be a broken image saying nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from hitcount.api_flask.errors import InvalidRequest, RateLimited, Unauthorized, echo, nearest
from hitcount.core import Counts, InvalidHit, StoreError, StoreUnavailable, UnknownWindow, Window

MAX_LABEL = 40
HEIGHT = 20
PADDING = 6
LABEL_COLOUR = "#555"
COUNT_COLOUR = "#007ec6"
NOT_COUNTED = "n/a"
NOT_COUNTED_COLOUR = "#9f9f9f"
ERROR_COLOUR = "#e05d44"
ERROR_LABEL = "hitcount"
_NARROW = frozenset("fijlrtI!|.,:;'()[] ")
_WIDE = frozenset("mwMW@%")


def text_width(text: str) -> int:
    """Pixels ``text`` takes in Verdana 11px, estimated."""
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += 3.9
        elif char in _WIDE:
            width += 10.5
        elif char.isupper() or char.isdigit():
            width += 7.3
        else:
            width += 6.6
    return round(width)


class MissingId(InvalidRequest):
    """A badge's query names no id."""

    def __init__(self) -> None:
        super().__init__("the query needs an id: /badge.svg?id=<id>")


class InvalidLabel(InvalidRequest):
    """A badge's label is empty, too long or not printable."""


class UnknownMetric(InvalidRequest):
    """A badge's metric is none of :data:`METRICS`."""


@dataclass(frozen=True)
class Metric:
    """What a badge may show of a window: ``label`` when the query gives none, the metric's value of
    every window by reference (``by_reference``) and of all time (``total``), None where the store
    does not count it."""

    label: str
    by_reference: Callable[[Counts], dict[str, int] | None]
    total: Callable[[Counts], int | None]

    def of(self, counts: Counts, window: Window | None) -> int | None:
        """The metric's value in ``window`` of ``counts`` (all time for None), or None when the store does not
        count it."""
        if window is None:
            return self.total(counts)
        values = self.by_reference(counts)
        return None if values is None else values[window.reference]


METRICS: dict[str, Metric] = {
    "count": Metric("hits", Counts.by_reference, lambda counts: counts.total),
    "visitors": Metric("visitors", Counts.visitors_by_reference, lambda counts: None),
}
DEFAULT_METRIC = "count"
# What an error badge says, by the error's nearest class: what is wrong, in a few words.
PROBLEMS: dict[type[Exception], str] = {
    MissingId: "no id",
    InvalidHit: "bad id",
    UnknownWindow: "bad window",
    InvalidLabel: "bad label",
    UnknownMetric: "bad metric",
    Unauthorized: "id not public",
    RateLimited: "too many reads",
    StoreUnavailable: "store unavailable",
    StoreError: "store failed",
}
# A badge query's error PROBLEMS does not name (none today: a new one would show this).
UNKNOWN_PROBLEM = "error"


def parse_metric(text: str | None) -> Metric:
    """The badge's metric: :data:`DEFAULT_METRIC` when absent, else one of :data:`METRICS` by name."""
    metric = METRICS.get(DEFAULT_METRIC if text is None else text)
    if metric is None:
        raise UnknownMetric(f"metric {echo(text)} is not one of: {', '.join(METRICS)}")
    return metric


def parse_label(text: str | None, metric: Metric) -> str:
    """The badge's label: ``metric``'s own when absent, else printable text of at most :data:`MAX_LABEL`."""
    if text is None:
        return metric.label
    if not text or len(text) > MAX_LABEL or not text.isprintable():
        raise InvalidLabel(f"label {echo(text)} must be 1 to {MAX_LABEL} printable characters")
    return text


def render_count(label: str, count: int | None) -> str:
    """The badge of ``label`` and ``count`` (digits grouped by commas), or of :data:`NOT_COUNTED` when
    ``count`` is None (the store does not count it)."""
    if count is None:
        return render(label, NOT_COUNTED, NOT_COUNTED_COLOUR, f"{label}: {NOT_COUNTED}, the store does not count them")
    return render(label, f"{count:,}", COUNT_COLOUR, f"{label}: {count:,}")


def render_error(error: Exception, message: str) -> str:
    """The badge of ``error``: what is wrong in a few words, and ``message`` (what to change) as its title."""
    problem = nearest(PROBLEMS, error) or UNKNOWN_PROBLEM
    return render(ERROR_LABEL, problem, ERROR_COLOUR, f"{ERROR_LABEL}: {message}")


def render(label: str, value: str, colour: str, title: str) -> str:
    """The badge of ``label`` and ``value`` on ``colour``; ``title`` is its tooltip and a screen reader's words."""
    left = text_width(label) + 2 * PADDING
    right = text_width(value) + 2 * PADDING
    width = left + right
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" role="img"'
        f" aria-label={quoteattr(title)}><title>{escape(title)}</title>"
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="{HEIGHT}" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left}" height="{HEIGHT}" fill="{LABEL_COLOUR}"/>'
        f'<rect x="{left}" width="{right}" height="{HEIGHT}" fill="{colour}"/>'
        f'<rect width="{width}" height="{HEIGHT}" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2}" y="14">{escape(label)}</text>'
        f'<text x="{left + right / 2}" y="14">{escape(value)}</text></g></svg>'
    )
