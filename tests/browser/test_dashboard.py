"""The dashboard (``GET /``) in Debian's chromium, against the real pipeline: the ids with the most hits
in order, an id's windows and total, a bar per hour of its last three days, and the read rules: without
a token only public ids, with one typed into the page the others too.

A screenshot of the page, an id chosen, is kept in ``var/browser/dashboard.png``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.sync_api import Page, expect

from hitcount.core.hours import HOURS
from hitcount.core.windows import WINDOWS
from tests.browser.pages import PUBLIC
from tests.e2e.pipeline import Stack

SCREENSHOT = Path(__file__).resolve().parents[2] / "var" / "browser" / "dashboard.png"


def send(stack: Stack, hits: dict[str, int]) -> None:
    for id, number in hits.items():
        assert stack.post("/analytics/batch", [{"id": id}] * number).status == 204
    for id, number in hits.items():
        stack.wait_for_counts(id, [number] * len(WINDOWS))


def ranked_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("#ranking tbody tr").evaluate_all("rows => rows.map(row => row.dataset.id)")
    return ids


def test_the_dashboard_ranks_ids_and_charts_the_chosen_ones_hours(stack: Stack, page: Page) -> None:
    prefix = f"{PUBLIC}{uuid.uuid4().hex[:8]}/"
    send(stack, {f"{prefix}a": 3, f"{prefix}b": 5, f"{prefix}c": 1})
    page.goto(f"http://127.0.0.1:{stack.port}/?window=1h&prefix={prefix}")
    expect(page.locator("#ranking tbody tr")).to_have_count(3)
    assert ranked_ids(page) == [f"{prefix}b", f"{prefix}a", f"{prefix}c"]
    expect(page.locator("#ranking tbody tr").first).to_contain_text("5")

    page.get_by_role("button", name=f"{prefix}b").click()
    expect(page.locator("#detail-id")).to_have_text(f"{prefix}b")
    rows = page.locator("#windows tbody tr")
    expect(rows).to_have_count(len(WINDOWS) + 1)  # and all time
    for row, window in zip(rows.all()[: len(WINDOWS)], WINDOWS, strict=True):
        expect(row).to_have_text(f"{window.reference}51")  # 5 hits of 1 visitor (one address and agent)
    expect(rows.last).to_have_text("all time5\u2013")  # no visitors of all time
    bars = page.locator("#chart rect")
    expect(bars).to_have_count(HOURS)
    counts = bars.evaluate_all("bars => bars.map(bar => Number(bar.dataset.count))")
    assert sum(counts) == 5
    assert counts[-1] in (0, 5)  # in now's hour, or in the one before if the hour turned since
    assert "id=" in page.url  # the choice is in the address, to be shared
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    # Any id may be looked at by its name, ranked or not.
    page.locator("input[name=lookup]").fill(f"{prefix}c")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#detail-id")).to_have_text(f"{prefix}c")
    expect(rows.first).to_have_text(f"{WINDOWS[0].reference}11")


def test_without_a_token_the_dashboard_shows_public_ids_only_and_with_one_the_others(stack: Stack, page: Page) -> None:
    private = f"private-{uuid.uuid4().hex[:8]}"
    send(stack, {private: 2})
    page.goto(f"http://127.0.0.1:{stack.port}/?window=1h&prefix={private}")
    expect(page.locator("#ranking tbody")).to_contain_text("No hits here yet.")
    page.locator("input[name=token]").fill(stack.environ["HITCOUNT_READ_TOKENS"])
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#ranking tbody tr")).to_have_count(1)
    assert ranked_ids(page) == [private]
    # The token stays in this tab (a reload keeps it) and is never put in the address.
    page.reload()
    expect(page.locator("#ranking tbody tr")).to_have_count(1)
    assert stack.environ["HITCOUNT_READ_TOKENS"] not in page.url
    page.locator("input[name=token]").fill("wrong")
    page.get_by_role("button", name=f"{private}").click()
    expect(page.locator("#status")).to_contain_text("HTTP 401")
