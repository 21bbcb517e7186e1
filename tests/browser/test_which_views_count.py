"""Which views /hitcount.js counts, in Debian's chromium: a single-page app's navigations, and none from a
browser that asks not to be tracked when the page says to respect it.

A page navigates as a single-page app's router does, by its own script (``page.evaluate``).
What it counted is read back from the API once the queue is drained, as in test_hitcount_js;
that a navigation counts nothing is shown by a later hit (a marker) counted while the
navigation's own id stays as it was.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from hitcount.core.windows import WINDOWS
from tests.browser.pages import Site, page_of
from tests.e2e.pipeline import Stack

ONCE = [1] * len(WINDOWS)
TWICE = [2] * len(WINDOWS)
NEVER = [0] * len(WINDOWS)
# What a browser that sends DNT: 1 or Sec-GPC: 1 tells a page's scripts.
DO_NOT_TRACK = {
    "Sec-GPC": 'Object.defineProperty(navigator, "globalPrivacyControl", { value: true })',
    "DNT": 'Object.defineProperty(navigator, "doNotTrack", { value: "1" })',
}


def counter_of(id: str) -> str:
    return f'<span id="count" data-hitcount-count="{id}">…</span>'


def open_page(stack: Stack, site: Site, page: Page, *flags: str) -> str:
    """Open a new page of ``site`` without ``data-id`` (its tag with ``flags``): the id of its first view."""
    url = site.add(page_of("<p>an app</p>", stack, flags=flags))
    page.goto(url)
    page.wait_for_function("window.hitcount !== undefined")
    return url.removeprefix("http://")


def push(page: Page, path: str) -> str:
    """Navigate ``page`` to ``path`` of its origin by ``history.pushState``: the id of the new path."""
    page.evaluate(f"history.pushState({{}}, '', {json.dumps(path)})")
    return f"{urlsplit(page.url).netloc}{path}"


def marker_counted(stack: Stack, page: Page, id: str) -> None:
    """Send a hit of ``id`` a moment after ``page``'s last navigation, and wait until it is counted: a hit the
    navigation sent, sent before it, is counted too by then."""
    page.evaluate(f"new Promise((done) => setTimeout(done, 200)).then(() => hitcount.track({json.dumps(id)}))")
    stack.wait_for_counts(id, ONCE)


def test_a_pushstate_navigation_counts_once_under_the_new_paths_id_and_fills_the_counters_the_page_put_there(
    stack: Stack, site: Site, page: Page
) -> None:
    first = open_page(stack, site, page)
    path = urlsplit(page.url).path
    next = f"{urlsplit(page.url).netloc}{path}/next"
    # A router that shows the new path's own counter as it navigates.
    page.evaluate(
        f"history.pushState({{ page: 2 }}, '', {json.dumps(f'{path}/next')});"
        f"document.body.innerHTML = {json.dumps(counter_of(next))};"
    )
    expect(page.locator("#count")).to_have_text("1")
    stack.wait_for_counts(next, ONCE)
    stack.wait_for_counts(first, ONCE)


def test_replacestate_to_the_same_path_with_another_query_or_state_is_not_a_view(
    stack: Stack, site: Site, page: Page, id: str
) -> None:
    first = open_page(stack, site, page)
    page.evaluate("history.replaceState({ tab: 2 }, '', location.pathname + '?tab=2')")
    marker_counted(stack, page, id)
    stack.wait_for_counts(first, ONCE)


def test_replacestate_to_a_new_path_is_a_view_of_it(stack: Stack, site: Site, page: Page) -> None:
    first = open_page(stack, site, page)
    path = f"{urlsplit(page.url).path}/moved"
    page.evaluate(f"history.replaceState({{}}, '', {json.dumps(path)})")
    stack.wait_for_counts(f"{urlsplit(page.url).netloc}{path}", ONCE)
    stack.wait_for_counts(first, ONCE)


def test_going_back_counts_the_previous_path_again(stack: Stack, site: Site, page: Page) -> None:
    first = open_page(stack, site, page)
    next = push(page, f"{urlsplit(page.url).path}/next")
    stack.wait_for_counts(next, ONCE)
    page.go_back()
    stack.wait_for_counts(first, TWICE)
    stack.wait_for_counts(next, ONCE)


def test_with_data_hash_a_hash_route_is_a_view_of_its_own(stack: Stack, site: Site, page: Page) -> None:
    first = open_page(stack, site, page, "data-hash")
    page.evaluate("location.hash = '#/about'")
    stack.wait_for_counts(f"{first}#/about", ONCE)
    stack.wait_for_counts(first, ONCE)


def test_without_data_hash_a_hash_change_is_not_a_view(stack: Stack, site: Site, page: Page, id: str) -> None:
    first = open_page(stack, site, page)
    page.evaluate("location.hash = '#/about'")
    marker_counted(stack, page, id)
    stack.wait_for_counts(first, ONCE)
    stack.wait_for_counts(f"{first}#/about", NEVER)


def test_with_data_id_navigations_are_not_views(stack: Stack, site: Site, page: Page, id: str) -> None:
    page.goto(site.add(page_of("", stack, id)))
    page.wait_for_function("window.hitcount !== undefined")
    next = push(page, f"{urlsplit(page.url).path}/next")
    marker_counted(stack, page, f"{id}-marker")
    stack.wait_for_counts(id, ONCE)
    stack.wait_for_counts(next, NEVER)


@pytest.mark.parametrize("signal", DO_NOT_TRACK)
def test_with_data_respect_dnt_a_browser_that_asks_not_to_be_tracked_sends_no_hit_and_sees_counts(
    stack: Stack, site: Site, page: Page, id: str, signal: str
) -> None:
    stack.post("/analytics/batch", [{"id": id}] * 2)
    stack.wait_for_counts(id, TWICE)
    page.add_init_script(DO_NOT_TRACK[signal])
    page.goto(site.add(page_of(counter_of(id), stack, id, ["data-respect-dnt"])))
    # The counter shows once the view's hit was taken or not sent: its own view would make it 3.
    expect(page.locator("#count")).to_have_text("2")
    assert page.evaluate(f"hitcount.track({json.dumps(f'{id}-click')})") is False
    stack.wait_for_counts(id, TWICE)
    stack.wait_for_counts(f"{id}-click", NEVER)


def test_without_data_respect_dnt_a_browser_that_asks_not_to_be_tracked_is_counted(
    stack: Stack, site: Site, page: Page, id: str
) -> None:
    page.add_init_script(DO_NOT_TRACK["Sec-GPC"])
    page.goto(site.add(page_of(counter_of(id), stack, id)))
    expect(page.locator("#count")).to_have_text("1")
    stack.wait_for_counts(id, ONCE)
