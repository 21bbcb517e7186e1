"""``GET /hitcount.js``: the script a web page includes to count its views and show counts.

The script (``hitcount.js`` beside this package's modules) sends its hits to the origin it
was loaded from, so a page needs nothing but its tag. It changes only with hitcount
itself: browsers keep it a day and then ask again with its ETag, which costs a 304.

The script names windows by core's short names (``data-window="1h"``): they are written into
it here, from :data:`hitcount.core.WINDOWS`, so that they are defined once. Its comments say
why to readers of the source; every page that counts would load them too, so lines that hold
only a comment are left out of what is served, and so is each line's indentation (no string
of the script spans lines), which keeps it under 4 KiB.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources

from flask import Blueprint, Response, request

from hitcount.core import WINDOWS

script = Blueprint("script", __name__)

# Where the script's source holds the windows' short names, longest first as answers give counts.
WINDOWS_MARK = b"HITCOUNT_WINDOWS"
# The block comment that opens the script, lines of a // comment alone, and every line's indentation.
LEFT_OUT = re.compile(rb"\A/\*.*?\*/\n|^[ ]*//[^\n]*\n|^[ ]+", re.MULTILINE | re.DOTALL)
SOURCE = LEFT_OUT.sub(b"", resources.files("hitcount.api_flask").joinpath("hitcount.js").read_bytes()).replace(
    WINDOWS_MARK, json.dumps([window.name for window in WINDOWS], separators=(",", ":")).encode(), 1
)
ETAG = hashlib.sha256(SOURCE).hexdigest()[:20]
CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=604800"


@script.get("/hitcount.js")
def hitcount_js() -> Response:
    response = Response(SOURCE, content_type="text/javascript; charset=utf-8")
    response.headers["Cache-Control"] = CACHE_CONTROL
    # Pages that require CORP of what they embed (cross-origin isolation) may load it too.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.set_etag(ETAG)
    response.make_conditional(request)  # 304 when If-None-Match names the ETag
    return response
