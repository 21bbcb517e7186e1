"""Reading request heads in hitcount's gunicorn worker: what gevent's server would read, and refusals per RFC 9112."""

from __future__ import annotations

import http.client
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hitcount.api_flask.worker import MAX_FIELDS, MAX_LINE, InvalidHead, read_head

TOKEN = st.text(alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1)
# Field values as clients send them: visible Latin-1 with inner spaces, no surrounding whitespace.
VALUE = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40)


def stream(*lines: str, body: bytes = b"") -> io.BufferedReader:
    return io.BufferedReader(io.BytesIO("".join(lines).encode("iso-8859-1") + body))


@given(st.lists(st.tuples(TOKEN, VALUE, VALUE), max_size=20))
def test_fields_read_as_the_email_based_parser_reads_them(fields: list[tuple[str, str, str]]) -> None:
    lines = [f"{name}:  {left} {right}\r\n" if right else f"{name}: {left}\r\n" for name, left, right in fields]
    head = read_head(stream(*lines, "\r\n"))
    reference = http.client.parse_headers(stream(*lines, "\r\n"))
    assert head.items() == [(name, value.rstrip(" \t")) for name, value in reference.items()]
    for name, _, _ in fields:
        assert head.get(name.upper()) == (reference.get(name) or "").rstrip(" \t")


def test_lookups_ignore_case_and_give_the_first_of_repeated_fields() -> None:
    head = read_head(stream("Content-Type: text/plain\r\n", "X-A: 1\r\n", "x-a: 2\r\n", "\r\n"))
    assert (head.get("content-type"), head.typeheader, head.getheader("X-A")) == ("text/plain", "text/plain", "1")
    assert head.get("missing", "default") == "default"
    assert head.headers == ["Content-Type: text/plain\r\n", "X-A: 1\r\n", "x-a: 2\r\n"]


def test_deleting_a_field_removes_every_copy_of_it() -> None:
    head = read_head(stream("Content-Length: 3\r\n", "content-length: 4\r\n", "Host: h\r\n", "\r\n"))
    del head["Content-Length"]
    assert head.items() == [("Host", "h")]


def test_reading_stops_at_the_empty_line_and_leaves_the_body() -> None:
    body = stream("Host: h\n", "\n", body=b'{"id": "x"}')
    assert read_head(body).items() == [("Host", "h")]
    assert body.read() == b'{"id": "x"}'


def test_a_head_cut_short_ends_with_the_fields_read() -> None:
    assert read_head(stream("Host: h\r\n")).items() == [("Host", "h")]


@pytest.mark.parametrize(
    "line",
    [
        " folded: continuation\r\n",
        "\tfolded\r\n",
        "no colon\r\n",
        "Space Before : value\r\n",
        "Bad(name): v\r\n",
        ": v\r\n",
    ],
)
def test_obsolete_folding_and_malformed_lines_are_refused(line: str) -> None:
    with pytest.raises(InvalidHead):
        read_head(stream("Host: h\r\n", line, "\r\n"))


def test_a_line_over_the_limit_is_refused() -> None:
    with pytest.raises(InvalidHead, match="too long"):
        read_head(stream("X: " + "a" * MAX_LINE + "\r\n", "\r\n"))
    assert read_head(stream("X: " + "a" * (MAX_LINE - 5) + "\r\n", "\r\n")).get("X") == "a" * (MAX_LINE - 5)


def test_more_fields_than_the_limit_are_refused() -> None:
    lines = [f"X-{number}: v\r\n" for number in range(MAX_FIELDS)]
    assert len(read_head(stream(*lines, "\r\n")).items()) == MAX_FIELDS
    with pytest.raises(InvalidHead, match="more than"):
        read_head(stream(*lines, "X-last: v\r\n", "\r\n"))
