"""The SVG of ``GET /badge.svg``: a label and a count side by side, in the usual flat badge style.

Text widths are estimated from classes of characters in Verdana 11px (the font badges are
drawn in, with fallbacks of about its width), close enough that the text fits its box.
Every piece of text is XML-escaped; a label is at most :data:`MAX_LABEL` characters of
printable text, so that a badge stays small and an SVG never holds a control character
(XML forbids most of them).
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from hitcount.api_flask.errors import InvalidRequest, echo

MAX_LABEL = 40
DEFAULT_LABEL = "hits"
HEIGHT = 20
PADDING = 6
LABEL_COLOUR = "#555"
COUNT_COLOUR = "#007ec6"
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


def parse_label(text: str | None) -> str:
    """The badge's label: :data:`DEFAULT_LABEL` when absent, else printable text of at most :data:`MAX_LABEL`."""
    if text is None:
        return DEFAULT_LABEL
    if not text or len(text) > MAX_LABEL or not text.isprintable():
        raise InvalidRequest(f"label {echo(text)} must be 1 to {MAX_LABEL} printable characters")
    return text


def render(label: str, count: int) -> str:
    """The badge of ``label`` and ``count`` (digits grouped by commas)."""
    value = f"{count:,}"
    left = text_width(label) + 2 * PADDING
    right = text_width(value) + 2 * PADDING
    width = left + right
    title = escape(f"{label}: {value}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" role="img"'
        f" aria-label={quoteattr(f'{label}: {value}')}><title>{title}</title>"
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="{HEIGHT}" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left}" height="{HEIGHT}" fill="{LABEL_COLOUR}"/>'
        f'<rect x="{left}" width="{right}" height="{HEIGHT}" fill="{COUNT_COLOUR}"/>'
        f'<rect width="{width}" height="{HEIGHT}" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2}" y="14">{escape(label)}</text>'
        f'<text x="{left + right / 2}" y="14">{escape(value)}</text></g></svg>'
    )
