"""Fixtures of the browser tests: Debian's chromium driven by Playwright, the real pipeline, and web pages.

The pipeline is ``hitcount api`` and ``hitcount indexer`` on the embedded sqlite backends
(the browser's side does not depend on them). Pages are served by a small HTTP server of
the test's own on other ports than the API, so that each is a page of another origin, as
a site that includes ``/hitcount.js`` is; one of those origins is listed in
``HITCOUNT_CORS_ORIGINS`` and one is not.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from scripts.services import ensure_command
from tests.browser.pages import PUBLIC, Site, serve_site
from tests.e2e.pipeline import Stack


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    """The origin ``HITCOUNT_CORS_ORIGINS`` lists."""
    site = serve_site()
    yield site
    site.server.shutdown()


@pytest.fixture(scope="session")
def foreign_site() -> Iterator[Site]:
    """An origin ``HITCOUNT_CORS_ORIGINS`` does not list."""
    site = serve_site()
    yield site
    site.server.shutdown()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, site: Site) -> Iterator[Stack]:
    stack = Stack(
        tmp_path_factory.mktemp("browser"),
        {
            "HITCOUNT_QUEUE": "sqlite",
            "HITCOUNT_STORE": "sqlite",
            "HITCOUNT_CORS_ORIGINS": site.origin,
            "HITCOUNT_READ_TOKENS": uuid.uuid4().hex,
            # The default id of a page is its host and path.
            "HITCOUNT_PUBLIC_IDS": f"{PUBLIC}*, 127.0.0.1:*",
            # Headless chromium says HeadlessChrome in its User-Agent, a bot the API would leave out.
            "HITCOUNT_COUNT_BOTS": "on",
        },
    )
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Debian's chromium, headless; installed with apt-get when missing (which needs root)."""
    executable = ensure_command("chromium", "chromium", tmp_path_factory.mktemp("apt") / "chromium.log")
    # Chromium's sandbox needs user namespaces, which a root user in a container may not have.
    browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a context of its own (no cache or storage shared with other tests)."""
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def id() -> str:
    """A public id no other test sends hits for."""
    return f"{PUBLIC}{uuid.uuid4().hex[:12]}"
