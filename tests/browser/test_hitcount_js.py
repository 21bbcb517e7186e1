"""/hitcount.js in Debian's chromium: a page of another origin counts its views, shows counts and badges.

Every hit a page sends is checked where it lands, in the API's counts once the queue is
drained; a view counted twice shows there as 2. Refusals are checked as a page sees them
(an error marked on its counter naming what to change, a warning in its console, ``track``
resolving false, a badge saying what is wrong) and as the API counts them.
"""

from __future__ import annotations

import json
import re
import time

from playwright.sync_api import ConsoleMessage, Locator, Page, expect

from hitcount.api_flask.tuning import Tuning
from hitcount.core import Hit, now_ns
from hitcount.core.testing.processes import wait_until
from hitcount.core.windows import WINDOWS
from tests.browser.pages import Site, page_of
from tests.e2e.pipeline import Stack

ONCE = [1] * len(WINDOWS)
REFUSED_ORIGIN = 'hitcount_api_hits_rejected_total{reason="origin"}'


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
        f'<span id="hour" data-hitcount-count="{id}" data-window="1h">…</span>'
        f'<img id="badge" src="http://127.0.0.1:{stack.port}/badge.svg?id={id}&amp;label=views&amp;window=5m">'
    )
    page.goto(site.add(page_of(body, stack, f"{id}-view")))
    expect(page.locator("#longest")).to_have_text("3")
    expect(page.locator("#recent")).to_have_text("1")
    expect(page.locator("#hour")).to_have_text("3")
    assert_shows(page.locator("#badge"))


def test_counters_of_visitors_and_of_the_total_show_them_beside_a_count_counter(
    stack: Stack, site: Site, page: Page, id: str
) -> None:
    # Written to the store with visitor keys as the API gives them: 3 hits of one visitor, 1 of another.
    store = stack.runtime.open_store()
    try:
        store.write([Hit(id, now_ns(), visitor=visitor) for visitor in (1, 1, 1, 2)])
    finally:
        store.close()
    stack.wait_for_counts(id, [4] * len(WINDOWS))
    body = (
        f'<span id="count" data-hitcount-count="{id}">…</span>'
        f'<span id="visitors" data-hitcount-count="{id}" data-hitcount-metric="visitors">…</span>'
        f'<span id="recent" data-hitcount-count="{id}" data-window="5m" data-hitcount-metric="visitors">…</span>'
        f'<span id="total" data-hitcount-count="{id}" data-window="total">…</span>'
    )
    page.goto(site.add(page_of(body, stack, f"{id}-view")))
    expect(page.locator("#count")).to_have_text("4")
    expect(page.locator("#visitors")).to_have_text("2")
    expect(page.locator("#recent")).to_have_text("2")
    expect(page.locator("#total")).to_have_text("4")


def assert_shows(image: Locator) -> None:
    """``image`` is loaded and drawn: not a broken image."""
    wait_until(lambda: bool(image.evaluate("image => image.complete && image.naturalWidth > 0")), "the image to show")


def test_a_badge_that_cannot_show_its_count_shows_why_instead_of_a_broken_image(
    stack: Stack, site: Site, page: Page, id: str
) -> None:
    badge = f"http://127.0.0.1:{stack.port}/badge.svg"
    queries = {"window": f"?id={id}&amp;window=1w", "id": "?id=a%01", "private": f"?id=private-{id}"}
    page.goto(
        site.add(page_of("".join(f'<img id="{name}" src="{badge}{query}">' for name, query in queries.items()), stack))
    )
    for name in queries:
        assert_shows(page.locator(f"#{name}"))
    for query in queries.values():
        # An error's status, which chromium's <img> shows all the same.
        assert page.request.get(f"{badge}{query.replace('&amp;', '&')}").status in (400, 401)


def test_window_hitcount_track_counts_a_hit_of_any_id_once(stack: Stack, site: Site, page: Page, id: str) -> None:
    page.goto(site.add(page_of("", stack, f"{id}-view")))
    page.wait_for_function("window.hitcount !== undefined")
    assert page.evaluate(f"hitcount.track({json.dumps(id)})") is True
    stack.wait_for_counts(id, ONCE)
    stack.wait_for_counts(f"{id}-view", ONCE)


def assert_counter_fails(stack: Stack, site: Site, page: Page, attributes: str, error: str) -> None:
    """A counter of ``attributes`` keeps its text, marked with an error holding ``error``, which the console repeats."""
    warnings = warnings_of(page)
    page.goto(site.add(page_of(f'<span id="count" {attributes}>…</span>', stack)))
    counter = page.locator("#count")
    expect(counter).to_have_attribute("data-hitcount-error", re.compile(re.escape(error)))
    expect(counter).to_have_text("…")
    wait_until(lambda: any(error in text for text in warnings), "the console's warning")


def test_a_counter_of_a_window_that_does_not_exist_keeps_its_text_and_says_which_there_are(
    stack: Stack, site: Site, page: Page, id: str
) -> None:
    attributes = f'data-hitcount-count="{id}" data-window="1 week ago"'
    assert_counter_fails(stack, site, page, attributes, 'no window "1 week ago": use one of 3d,2d,1d,1h,5m,total')


def test_a_counter_of_a_metric_that_does_not_exist_keeps_its_text_and_says_which_there_are(
    stack: Stack, site: Site, page: Page, id: str
) -> None:
    attributes = f'data-hitcount-count="{id}" data-hitcount-metric="views"'
    assert_counter_fails(stack, site, page, attributes, "not counted by this store: count, or visitors where it counts")


def test_a_counter_of_an_id_that_needs_a_read_token_keeps_its_text_and_names_the_setting(
    stack: Stack, site: Site, page: Page, id: str
) -> None:
    attributes = f'data-hitcount-count="private-{id}"'
    assert_counter_fails(stack, site, page, attributes, "HTTP 401: a bearer token of HITCOUNT_READ_TOKENS is needed")
    assert_counter_fails(stack, site, page, attributes, "only ids of HITCOUNT_PUBLIC_IDS")


def test_a_counter_the_api_does_not_allow_its_page_to_read_names_the_origin_and_the_settings(
    stack: Stack, foreign_site: Site, page: Page, id: str
) -> None:
    attributes = f'data-hitcount-count="{id}"'
    error = f"refuses {foreign_site.origin}: see HITCOUNT_CORS_ORIGINS (with *, reads of HITCOUNT_PUBLIC_IDS only)"
    assert_counter_fails(stack, foreign_site, page, attributes, error)


def test_a_first_view_shows_in_its_pages_counters_and_a_reload_never_counts_it_twice(
    stack: Stack, site: Site, page: Page, id: str
) -> None:
    body = (
        f'<span id="longest" data-hitcount-count="{id}">…</span>'
        f'<span id="recent" data-hitcount-count="{id}" data-window="5m">…</span>'
    )
    page.goto(site.add(page_of(body, stack, id)))
    expect(page.locator("#longest")).to_have_text("1")
    expect(page.locator("#recent")).to_have_text("1")
    stack.wait_for_counts(id, ONCE)
    # Until the counts read before the first view was indexed are past the caches (the browser's, and
    # each API worker's for the read max age), a reload shows 1, never 3. Past them, it shows 2.
    time.sleep(Tuning().read_max_age)
    page.context.new_cdp_session(page).send("Network.clearBrowserCache")
    page.reload()
    expect(page.locator("#longest")).to_have_text("2")
    expect(page.locator("#recent")).to_have_text("2")
    stack.wait_for_counts(id, [2] * len(WINDOWS))


def test_a_view_shows_in_counts_already_indexed_once_and_a_refresh_does_not_add_it_again(
    stack: Stack, site: Site, page: Page, id: str
) -> None:
    stack.post("/analytics/batch", [{"id": id}] * 2)
    stack.wait_for_counts(id, [2] * len(WINDOWS))
    page.goto(site.add(page_of(f'<span id="count" data-hitcount-count="{id}">…</span>', stack, id)))
    expect(page.locator("#count")).to_have_text("3")
    stack.wait_for_counts(id, [3] * len(WINDOWS))
    counter = page.locator("#count")

    def refresh_shows_three() -> bool:
        # The counts the first read gave may be kept a few seconds (max-age): a refresh then shows
        # 2, and the API's own 3 after; the view is never added again.
        counter.evaluate("counter => { counter.textContent = '…'; hitcount.refresh(); }")
        expect(counter).to_have_text(re.compile("^[23]$"))
        return counter.inner_text() == "3"

    wait_until(refresh_shows_three, "a refresh to show the view as the API counts it")


def test_track_resolves_false_when_the_api_refuses_the_hit(stack: Stack, site: Site, page: Page, id: str) -> None:
    warnings = warnings_of(page)
    page.goto(site.add(page_of("", stack, f"{id}-view")))
    page.wait_for_function("window.hitcount !== undefined")
    assert page.evaluate('hitcount.track("a\\u0001")') is False
    wait_until(lambda: any("hit of a\x01: HTTP 400: " in text for text in warnings), "the console's warning")


def test_a_page_of_an_unlisted_origin_is_refused_its_view_and_its_counts(
    stack: Stack, foreign_site: Site, page: Page, id: str
) -> None:
    refused = stack.metric(REFUSED_ORIGIN)
    page.goto(foreign_site.add(page_of(f'<span id="count" data-hitcount-count="{id}">…</span>', stack, id)))
    # The API answers the hit 403; no answer has CORS headers for the page, so the browser keeps them from it.
    wait_until(lambda: stack.metric(REFUSED_ORIGIN) > refused, "the API to refuse the page's view")
    expect(page.locator("#count")).to_have_attribute("data-hitcount-error", re.compile(".+"))
    expect(page.locator("#count")).to_have_text("…")
    stack.wait_for_counts(id, [0] * len(WINDOWS))


def test_track_from_an_unlisted_origin_resolves_false_and_warns(
    stack: Stack, foreign_site: Site, page: Page, id: str
) -> None:
    warnings = warnings_of(page)
    page.goto(foreign_site.add(page_of("", stack, f"{id}-view")))
    page.wait_for_function("window.hitcount !== undefined")
    assert page.evaluate(f"hitcount.track({json.dumps(id)})") is False
    assert any(text.startswith(f"hitcount: hit of {id}: ") for text in warnings), warnings
    stack.wait_for_counts(id, [0] * len(WINDOWS))
