"""README.md's "Quick start", run as written: its commands against ``hitcount serve`` (what ``make run`` runs),
its page served as it says and opened in chromium, which must show numbers.

The one liberty taken: the addresses. ``make run`` serves 127.0.0.1:8000 and the page is served on
port 8001; here both are free ports of the test's, put in place of those in every block.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from hitcount.core.testing.processes import Child, free_port, wait_until
from tests.e2e.serving import FIRST_LINE, serve, stop

README = Path(__file__).resolve().parents[2] / "README.md"
API, PAGES = "127.0.0.1:8000", "8001"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def quick_start() -> list[tuple[str, str]]:
    """The fenced blocks of the README's "Quick start" section, as (language, text), in order."""
    text = README.read_text()
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return BLOCK.findall(section)


def blocks(language: str) -> list[str]:
    return [text for tagged, text in quick_start() if tagged == language]


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``make run``'s ``hitcount serve`` of this test alone (its counts start at 0), on a free port instead of
    8000: its address."""
    address = f"127.0.0.1:{free_port()}"
    process = serve(tmp_path_factory.mktemp("quick-start"), HITCOUNT_BIND=address)
    try:
        wait_until(lambda: FIRST_LINE in process.output(), "hitcount serve to answer")
        yield address
    finally:
        stop(process)


def shell_lines(api: str) -> list[str]:
    """The commands of the section's shell blocks, the API's address replaced."""
    return [line.replace(API, api) for block in blocks("sh") for line in block.splitlines() if line.strip()]


def test_the_quick_start_starts_with_make_run_and_serves_a_page_the_way_it_says() -> None:
    lines = shell_lines(API)
    assert lines[0] == "make run"
    assert lines[-1] == f"python3 -m http.server {PAGES}"
    assert f"http://127.0.0.1:{PAGES}/hello.html" in README.read_text().split("\n## Quick start\n", 1)[1]


def test_the_quick_starts_requests_track_a_hit_and_read_back_what_it_shows(api: str) -> None:
    assert shutil.which("curl"), "the README's commands are curl's: install curl"
    track, read = [line for line in shell_lines(api) if line.startswith("curl ")]
    answer = subprocess.run(shlex.split(track), capture_output=True, text=True, timeout=10, check=True).stdout
    assert answer.startswith("HTTP/1.1 204"), answer
    [shown] = blocks("")
    expected = json.loads(shown)

    def read_back() -> bool:
        output = subprocess.run(shlex.split(read), capture_output=True, text=True, timeout=10, check=True).stdout
        return bool(json.loads(output) == expected)

    wait_until(read_back, "the README's read to answer what it shows")


def test_the_quick_starts_page_served_as_it_says_shows_numbers_in_chromium(
    api: str, page: Page, tmp_path: Path
) -> None:
    [html] = blocks("html")
    (tmp_path / "hello.html").write_text(html.replace(API, api))
    port = str(free_port())
    command = shlex.split(shell_lines(api)[-1].replace(PAGES, port))
    pages = Child([sys.executable, *command[1:]], tmp_path / "http.server.log", cwd=tmp_path)
    try:
        url = f"http://127.0.0.1:{port}/hello.html"
        wait_until(lambda: _answers(url), "python3 -m http.server to serve the page")
        page.goto(url)
        expect(page.locator("[data-hitcount-count]")).to_have_text(re.compile(r"^\d+$"), timeout=15_000)
        badge = page.locator("img")
        wait_until(lambda: bool(badge.evaluate("image => image.complete && image.naturalWidth > 0")), "the badge")
        with urllib.request.urlopen(badge.get_attribute("src") or "", timeout=5) as response:
            assert re.search(r">\d+<", response.read().decode()), "the badge shows no number"
    finally:
        pages.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False
