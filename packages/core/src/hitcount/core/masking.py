"""Secrets kept out of what leaves a process as text: logs, health details, errors, ``hitcount config``.

Where a URL ends inside free text cannot be told (a Redis password may hold a comma, a
blank, a quote or ``<``), so free text is never searched for URLs: the configured secret
values themselves are masked wherever they appear (:class:`Secrets`). URLs are parsed only
where they are known to be one whole URL, to show them with their secrets masked
(:func:`mask_url`) and to learn which parts of them are secret (:func:`url_secrets`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import SplitResult, unquote, unquote_plus, urlsplit

MASK = "****"
# Query parameters whose value is a secret, by a case-insensitive part of their name.
_SECRET_PARAMETER = re.compile(r"password|token|key|secret", re.IGNORECASE)
# Shorter values are not searched for in free text: masking every "1" or "abc" in every line would
# leave logs unreadable, and a secret that short guards nothing. mask_url still hides them in URLs.
MIN_LENGTH = 4


def _split(url: str) -> SplitResult | None:
    try:
        return urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None


def _password(netloc: str) -> str | None:
    """The password of a URL's authority, as written; its last ``@`` ends the userinfo, as for urllib."""
    userinfo, at, _ = netloc.rpartition("@")
    _, colon, password = userinfo.partition(":")
    return password if at and colon else None


def _secret_parameters(query: str) -> list[tuple[str, str]]:
    """``(name, value)`` of the query parameters whose value is a secret, as written."""
    pairs = (parameter.partition("=") for parameter in query.split("&")) if query else ()
    return [(name, value) for name, _, value in pairs if value and _SECRET_PARAMETER.search(unquote_plus(name))]


def mask_url(url: str) -> str:
    """The one URL ``url`` with its secrets masked: the password of the userinfo, and the values of
    query parameters named ``password`` or with ``token``, ``key`` or ``secret`` in their names
    (any case). Everything else is kept as written.

    ``url`` must be a whole URL (a setting's value, not a message quoting one): its password
    may hold any character. A URL that cannot be parsed is shown as its scheme alone.
    """
    parts = _split(url)
    if parts is None:
        return url.split("://", 1)[0] + "://" + MASK
    netloc = parts.netloc
    if _password(netloc) is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:{MASK}@{hostport}"
    secret = {name for name, _ in _secret_parameters(parts.query)}
    query = "&".join(
        f"{parameter.partition('=')[0]}={MASK}" if parameter.partition("=")[0] in secret else parameter
        for parameter in parts.query.split("&")
    )
    if netloc == parts.netloc and query == parts.query:
        return url
    # Rebuilt by hand: urlunsplit drops the "//" of an empty authority (unix:///path).
    before_fragment, hash, fragment = url.partition("#")
    question = "?" if "?" in before_fragment else ""
    return f"{parts.scheme}://{netloc}{parts.path}{question}{query}{hash}{fragment}"


def url_secrets(url: str) -> set[str]:
    """The secret values of the one URL ``url``, as written and percent-decoded (as clients decode them):
    its password and the values of its secret query parameters (see :func:`mask_url`)."""
    parts = _split(url)
    if parts is None:
        return {url}  # nothing of it can be told safe
    written = [value for _, value in _secret_parameters(parts.query)]
    password = _password(parts.netloc)
    if password:
        written.append(password)
    return {form for value in written for form in (value, unquote(value), unquote_plus(value))}


class Secrets:
    """Secret values, and the one way to hide them in any text: every occurrence, longest first, as
    written and as ``repr`` escapes them inside a message (``{password!r}`` of a quote or a backslash)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = frozenset(value for value in values if len(value) >= MIN_LENGTH)
        forms = self.values | {repr(value)[1:-1] for value in self.values}
        longest_first = sorted(forms, key=lambda value: (-len(value), value))
        self._pattern = re.compile("|".join(map(re.escape, longest_first))) if longest_first else None

    @classmethod
    def of_urls(cls, urls: Iterable[str], others: Iterable[str] = ()) -> Secrets:
        """The secrets of the whole URLs ``urls`` (see :func:`url_secrets`), and ``others`` as they are."""
        return cls([*others, *(secret for url in urls for secret in url_secrets(url))])

    def __or__(self, other: Secrets) -> Secrets:
        return Secrets(self.values | other.values)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str) -> str:
        """``text`` with every secret in it replaced by ``****``."""
        return text if self._pattern is None else self._pattern.sub(MASK, text)
