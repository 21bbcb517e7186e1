"""The OpenAPI document ``/openapi.json`` serves: ``openapi.json`` completed from core's windows.

The file holds the document's shape and words. What the count windows decide comes
from :data:`hitcount.core.WINDOWS` here, so that adding a window is one line in core:
how many counts an answer holds, the names a ``reference`` may take (and the ``window`` of a
badge or a ranking, short names too), an example answer, and how far back a hit's ``timestamp`` may go (the longest
window). A badge's ``metric`` takes the names of :data:`hitcount.api_flask.badge.METRICS`, its default theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

import orjson

from hitcount.api_flask.badge import DEFAULT_METRIC, METRICS
from hitcount.api_flask.parsing import MAX_AHEAD_NS
from hitcount.core import WINDOWS, Window
from hitcount.core.windows import NS_PER_SECOND, TOTAL

EXAMPLE_ID = "article-42"


def openapi_document(windows: Sequence[Window] = WINDOWS) -> bytes:
    """The document as JSON, for ``windows`` (longest first)."""
    document = orjson.loads(resources.files("hitcount.api_flask").joinpath("openapi.json").read_bytes())
    schemas = document["components"]["schemas"]
    counts = schemas["Counts"]
    array = counts["properties"]["counts"]
    array["minItems"] = array["maxItems"] = len(windows)
    references = [window.reference for window in windows]
    array["items"]["properties"]["reference"]["enum"] = references
    badge, ranking = (
        {parameter["name"]: parameter for parameter in document["paths"][path]["get"]["parameters"]}
        for path in ("/badge.svg", "/analytics")
    )
    for named in (badge["window"], ranking["window"]):
        named["schema"].update(enum=[window.name for window in windows] + references + [TOTAL], default=windows[0].name)
    badge["metric"]["schema"].update(enum=list(METRICS), default=DEFAULT_METRIC)
    # Longer windows hold at least the hits, and the visitors, of shorter ones; a visitor may hit twice.
    counts["example"] = {
        "id": EXAMPLE_ID,
        "counts": [
            {"reference": window.reference, "count": 2 ** (len(windows) - index), "visitors": len(windows) - index}
            for index, window in enumerate(windows)
        ],
    }
    schemas["Hit"]["properties"]["timestamp"]["description"] = (
        f"When the hit happened, from {windows[0].reference} (the longest window)"
        f" to {MAX_AHEAD_NS // NS_PER_SECOND} s ahead; default now."
    )
    return orjson.dumps(document)
