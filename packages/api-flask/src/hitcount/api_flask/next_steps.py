"""What ``hitcount serve`` prints once the API answers: requests to try and a page's tags, for the address
it serves (``HITCOUNT_BIND``), and the settings a page of another origin needs.

A newcomer's first question after ``make run`` is "now what?", and the second is why a page's
counter stays empty: hitcount.js sends hits from any page, but with ``HITCOUNT_CORS_ORIGINS=*``
a page shows only the counts of ``HITCOUNT_PUBLIC_IDS`` (:mod:`.cors`). Both are answered
here, from the settings in force. Kept free of Flask and gevent: every ``hitcount`` command
loads the plugin that imports this.
"""

from __future__ import annotations

import textwrap

from hitcount.api_flask.address import Address
from hitcount.api_flask.settings import CORS_ORIGINS, PUBLIC_IDS, ApiSettings
from hitcount.core import Runtime

# The id of the examples, as in README.md's.
ID = "hello"
# Prose is wrapped to this many characters, as a terminal shows it.
WIDTH = 98


def started(runtime: Runtime) -> str | None:
    """None until the API answers at ``HITCOUNT_BIND``; then what to try next (:func:`text`)."""
    settings = ApiSettings.from_config(runtime.config)
    address = Address.of(settings.bind)
    if address is None:
        return ""
    return text(address, settings) if address.answers() else None


def text(address: Address, settings: ApiSettings) -> str:
    """The "try this next" block for the API at ``address`` with ``settings``."""
    url, curl = address.url, address.curl
    tokens = settings.read_tokens
    authorization = " -H 'Authorization: Bearer <a token of HITCOUNT_READ_TOKENS>'" if tokens else ""
    lines = [
        f"hitcount serves {url} (Ctrl-C stops it). Try this next:",
        "",
        "  Track a hit, then read its counts back (the indexer stores it within seconds):",
        f'    {curl} -i -X POST {url}/analytics -d \'{{"id": "{ID}"}}\'',
        f"    {curl} -s{authorization} {url}/analytics/{ID}",
        "",
        f"  See the ids with the most hits, and each one's hits per hour, in a browser: {url}/",
        "",
        "  Count a page's views, show its count, and a badge (HTML of the page):",
        f'    <script defer src="{url}/hitcount.js" data-id="{ID}"></script>',
        f'    <span data-hitcount-count="{ID}">...</span>',
        f'    <img src="{url}/badge.svg?id={ID}" alt="hits">',
    ]
    other_origins = _other_origins(settings.cors_origins, settings.public_ids, bool(tokens))
    wrapped = textwrap.wrap(other_origins, WIDTH, initial_indent="  ", subsequent_indent="  ", break_long_words=False)
    return "\n".join([*lines, "", *wrapped])


def _other_origins(origins: tuple[str, ...], public: tuple[str, ...], tokens: bool) -> str:
    """What a page of another origin than the API's may do (yours, on a port of its own), and the settings
    that let it do more: the rules of :mod:`.cors` and :mod:`.access`, in the words of README.md."""
    public_ids = f"the ids of {PUBLIC_IDS.name} ({','.join(public) or 'none set'})"
    if tokens:
        only_public = f"their counters and badges show only {public_ids}, as a page cannot keep a read token"
    if "*" not in origins:
        listed = f"Only pages of {', '.join(origins)} send hits and show counts ({CORS_ORIGINS.name}): add yours there"
        return f"{listed}; {only_public}." if tokens else f"{listed}."
    sends = f"Pages of any origin send hits ({CORS_ORIGINS.name}=*)"
    if "*" in public and not tokens:
        return (
            f"{sends} and show every count ({PUBLIC_IDS.name}=*, as hitcount serve sets it for work on this"
            " machine; a deployment chooses its own: README.md, Defaults)."
        )
    if tokens:
        return f"{sends}, but {only_public}: list there the ids pages may show."
    return (
        f"{sends}, but their counters show only {public_ids}: list there the ids pages may show"
        f" ({PUBLIC_IDS.name}={ID}, or glob patterns such as 'blog/*'), or set {CORS_ORIGINS.name} to your"
        " pages' origins (http://localhost:3000) to show every count on them."
    )
