"""What ``hitcount serve`` prints once the API answers: for the address it serves, with the settings in force.

The block as ``hitcount serve`` prints it, and its commands run, is tested end to end in
tests/e2e/test_e2e_serve.py.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from hitcount.api_flask.address import Address
from hitcount.api_flask.next_steps import started, text
from hitcount.api_flask.settings import ApiSettings
from hitcount.core import Config, Runtime
from hitcount.core.testing.processes import free_port

URL = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("bind", "target", "url"),
    [
        ("127.0.0.1:8000", ("127.0.0.1", 8000), "http://127.0.0.1:8000"),
        ("0.0.0.0:9000", ("127.0.0.1", 9000), "http://127.0.0.1:9000"),
        ("[::]:80", ("::1", 80), "http://[::1]:80"),
        ("[::1]", ("::1", 8000), "http://[::1]:8000"),
        ("localhost", ("localhost", 8000), "http://localhost:8000"),
        ("tcp://example.test:81", ("example.test", 81), "http://example.test:81"),
    ],
)
def test_the_address_is_where_this_machine_reaches_the_bind_a_wildcard_on_loopback(
    bind: str, target: tuple[str, int], url: str
) -> None:
    address = Address.of(bind)
    assert address is not None
    assert (address.target, address.url, address.curl) == (target, url, "curl")


def settings_of(environ: dict[str, str]) -> ApiSettings:
    return ApiSettings.from_config(Config(environ))


def test_a_unix_socket_is_reached_by_curl_through_its_path() -> None:
    assert Address.of("unix:/run/hitcount.sock") == Address(
        "/run/hitcount.sock", "http://localhost", "curl --unix-socket /run/hitcount.sock"
    )
    assert Address.of("fd://3") is None


def test_the_block_names_the_served_address_in_its_requests_and_its_page_tags() -> None:
    block = text(Address(("127.0.0.1", 8000), URL), settings_of({}))
    assert f'curl -i -X POST {URL}/analytics -d \'{{"id": "hello"}}\'' in block
    assert f"curl -s {URL}/analytics/hello" in block
    assert f'<script defer src="{URL}/hitcount.js" data-id="hello"></script>' in block
    assert '<span data-hitcount-count="hello">' in block
    assert f'<img src="{URL}/badge.svg?id=hello" alt="hits">' in block
    assert block.isascii()  # printable on any terminal


def test_with_any_origin_the_block_says_counters_show_public_ids_and_how_to_show_more() -> None:
    prose = " ".join(text(Address(("127.0.0.1", 8000), URL), settings_of({})).split())
    assert "Pages of any origin send hits (HITCOUNT_CORS_ORIGINS=*)" in prose
    assert "counters show only the ids of HITCOUNT_PUBLIC_IDS (none set)" in prose
    assert "HITCOUNT_PUBLIC_IDS=hello" in prose
    public = " ".join(text(Address(("127.0.0.1", 8000), URL), settings_of({"HITCOUNT_PUBLIC_IDS": "badge-*"})).split())
    assert "the ids of HITCOUNT_PUBLIC_IDS (badge-*)" in public


def test_with_every_id_public_as_serve_sets_it_the_block_says_any_page_shows_every_count() -> None:
    prose = " ".join(text(Address(("127.0.0.1", 8000), URL), settings_of({"HITCOUNT_PUBLIC_IDS": "*"})).split())
    assert "send hits (HITCOUNT_CORS_ORIGINS=*) and show every count (HITCOUNT_PUBLIC_IDS=*" in prose
    assert "counters show only" not in prose


def test_with_read_tokens_the_read_asks_for_one_without_showing_any() -> None:
    block = text(Address(("127.0.0.1", 8000), URL), settings_of({"HITCOUNT_READ_TOKENS": "s3cret-token"}))
    assert f"curl -s -H 'Authorization: Bearer <a token of HITCOUNT_READ_TOKENS>' {URL}/analytics/hello" in block
    assert "s3cret-token" not in block
    assert "counters and badges show only the ids of HITCOUNT_PUBLIC_IDS" in " ".join(block.split())


def test_with_listed_origins_the_block_names_them() -> None:
    settings = settings_of({"HITCOUNT_CORS_ORIGINS": "https://a.example,https://b.example"})
    prose = " ".join(text(Address(("127.0.0.1", 8000), URL), settings).split())
    assert "Only pages of https://a.example, https://b.example send hits and show counts" in prose
    assert "HITCOUNT_PUBLIC_IDS" not in prose  # without tokens their pages show every count


@pytest.fixture
def answering() -> Iterator[int]:
    """A port where something answers every request 200, as the API's /healthz once a worker serves."""
    with socket.create_server(("127.0.0.1", 0)) as server:

        def serve() -> None:
            while True:
                try:
                    connection, _ = server.accept()
                except OSError:
                    return
                with connection:
                    connection.recv(1024)
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

        threading.Thread(target=serve, daemon=True).start()
        yield server.getsockname()[1]


def test_the_block_comes_once_the_api_answers_and_not_before(answering: int) -> None:
    assert started(Runtime.load({"HITCOUNT_BIND": f"127.0.0.1:{free_port()}"})) is None
    with socket.create_server(("127.0.0.1", 0)) as listening:  # gunicorn's master, before any worker serves
        assert started(Runtime.load({"HITCOUNT_BIND": f"127.0.0.1:{listening.getsockname()[1]}"})) is None
    block = started(Runtime.load({"HITCOUNT_BIND": f"127.0.0.1:{answering}"}))
    assert block is not None
    assert f"http://127.0.0.1:{answering}/analytics" in block
