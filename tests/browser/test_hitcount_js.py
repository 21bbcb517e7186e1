"""/hitcount.js in Debian's chromium: a page of another origin counts its views, shows counts and badges.

Every hit a page sends is checked where it lands, in the API's counts once the queue is
drained; a view counted twice shows there as 2. Refusals are checked as a page sees them
(an error marked on its counter, a warning in its console, ``track`` resolving false) and
as the API counts them.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from hitcount.core.testing.processes import wait_until
from hitcount.core.windows import WINDOWS
from tests.browser.pages import Site, page_of
from tests.e2e.pipeline import Stack

ONCE = [1] * len(WINDOWS)
REFUSED_ORIGIN = 'hitcount_api_hits_rejected_total{reason="origin"}'
WITHOUT_BEACONS = "delete Navigator.prototype.sendBeacon"


def warnings_of(page: Page) -> list[str]:
    """The console messages ``page`` will log, as they come."""
    messages: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        messages.append(message.text)

    page.on("console", keep)
    return messages


def test_a_page_of_another_origin_counts_its_view_once(stack: Stack, site: Site, page: Page, id: str) -> None:
    page.goto(site.add(page_of("<p>an article</p>", stack, id)))
    stack.wait_for_counts(id, ONCE)


def test_without_data_id_a_view_counts_for_the_pages_host_and_path(stack: Stack, site: Site, page: Page) -> None:
    url = site.add(page_of("<p>an article</p>", stack))
    page.goto(url)
    stack.wait_for_counts(url.removeprefix("http://"), ONCE)


def test_counters_and_badges_show_the_counts_of_their_ids_and_windows(
    stack: Stack, site: Site, page: Page, id: str
) -> None:
    half_an_hour_ago = int(time.time() * 1000) - 30 * 60 * 1000
    stack.post("/analytics/batch", [{"id": id, "timestamp": half_an_hour_ago}] * 2 + [{"id": id}])
    stack.wait_for_counts(id, [3, 3, 3, 3, 1])
    body = (
        f'<span id="longest" data-hitcount-count="{id}">…</span>'
        f'<span id="recent" data-hitcount-count="{id}" data-window="5 minutes ago">…</span>'
        f'<img id="badge" src="http://127.0.0.1:{stack.port}/badge.svg?id={id}&amp;label=views">'
    )
    page.goto(site.add(page_of(body, stack, f"{id}-view")))
    expect(page.locator("#longest")).to_have_text("3")
    expect(page.locator("#recent")).to_have_text("1")
    badge = page.locator("#badge")
    wait_until(lambda: bool(badge.evaluate("image => image.complete && image.naturalWidth > 0")), "the badge to show")


@pytest.mark.parametrize("beacons", [True, False], ids=["beacon", "fetch"])
def test_window_hitcount_track_counts_a_hit_of_any_id_once(
    stack: Stack, site: Site, page: Page, id: str, beacons: bool
) -> None:
    if not beacons:
        page.add_init_script(WITHOUT_BEACONS)
    page.goto(site.add(page_of("", stack, f"{id}-view")))
    page.wait_for_function("window.hitcount !== undefined")
    assert page.evaluate(f"hitcount.track({json.dumps(id)})") is True
    stack.wait_for_counts(id, ONCE)
    stack.wait_for_counts(f"{id}-view", ONCE)


def assert_counter_fails(stack: Stack, site: Site, page: Page, attributes: str, error: str) -> None:
    """A counter of ``attributes`` keeps its text, marked with ``error``, which the console repeats."""
    warnings = warnings_of(page)
    page.goto(site.add(page_of(f'<span id="count" {attributes}>…</span>', stack)))
    counter = page.locator("#count")
    expect(counter).to_have_attribute("data-hitcount-error", error)
    expect(counter).to_have_text("…")
    wait_until(lambda: any(text.endswith(f": {error}") for text in warnings), "the console's warning")


def test_a_counter_of_a_window_that_does_not_exist_keeps_its_text_and_says_why(
    stack: Stack, site: Site, page: Page, id: str
) -> None:
    attributes = f'data-hitcount-count="{id}" data-window="1 week ago"'
    assert_counter_fails(stack, site, page, attributes, 'no window "1 week ago"')


def test_a_counter_of_an_id_that_needs_a_read_token_keeps_its_text_and_says_why(
    stack: Stack, site: Site, page: Page, id: str
) -> None:
    assert_counter_fails(stack, site, page, f'data-hitcount-count="private-{id}"', "HTTP 401")


def test_a_page_of_an_unlisted_origin_is_refused_its_view_and_its_counts(
    stack: Stack, foreign_site: Site, page: Page, id: str
) -> None:
    refused = stack.metric(REFUSED_ORIGIN)
    page.goto(foreign_site.add(page_of(f'<span id="count" data-hitcount-count="{id}">…</span>', stack, id)))
    # The API answers the beacon 403; the page's read has no CORS headers, so the browser keeps it from the page.
    wait_until(lambda: stack.metric(REFUSED_ORIGIN) == refused + 1, "the API to refuse the page's view")
    expect(page.locator("#count")).to_have_attribute("data-hitcount-error", re.compile(".+"))
    expect(page.locator("#count")).to_have_text("…")
    stack.wait_for_counts(id, [0] * len(WINDOWS))


def test_track_from_an_unlisted_origin_resolves_false_and_warns(
    stack: Stack, foreign_site: Site, page: Page, id: str
) -> None:
    page.add_init_script(WITHOUT_BEACONS)
    warnings = warnings_of(page)
    page.goto(foreign_site.add(page_of("", stack, f"{id}-view")))
    page.wait_for_function("window.hitcount !== undefined")
    assert page.evaluate(f"hitcount.track({json.dumps(id)})") is False
    assert any(text.startswith(f"hitcount: hit of {id}: ") for text in warnings), warnings
    stack.wait_for_counts(id, [0] * len(WINDOWS))
