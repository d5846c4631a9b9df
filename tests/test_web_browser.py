"""The calendar page in headless Chromium (Debian's package, driven by playwright-python; no browser download).

Skips, saying why, when chromium or playwright is missing; .ci/run installs chromium so CI always runs it.
Set CAREPG_SCREENSHOTS=DIR to also save the screenshots the docs use.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg
import pytest

from web_fixtures import Server, WebDatabase

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI; the sandbox refuses root
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: `apt-get install chromium` (.ci/run does)"),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def screenshot(page, name: str, *, full_page: bool = True) -> None:
    target = os.environ.get("CAREPG_SCREENSHOTS")
    if target:
        page.screenshot(path=str(Path(target) / name), full_page=full_page)


def show_worker(page, server: Server, worker_id: int | str) -> None:
    page.goto(server.base_url + "/")
    page.fill("#worker", str(worker_id))
    page.click("button[type=submit]")


def test_calendar_shows_a_workers_shifts_and_pages_with_the_cursor(browser, web_server: Server, web_db: WebDatabase):
    worker = web_db.workers["CNA"]
    first = web_server.request(f"/workers/{worker}/shifts?limit=1").json()["shifts"][0]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        show_worker(page, web_server, worker)
        page.wait_for_selector(".shift")
        assert page.text_content("#period") == "February 2023"
        assert page.text_content("#status") == f"Available shifts for worker {worker}."
        # The first shift of the API's answer is on the first day that has shifts, with its facility and hours.
        cell = page.locator(f".day[data-date='{first['start'][:10]}']")
        shown = cell.locator(".shift").first
        assert shown.get_attribute("data-shift-id") == str(first["id"])
        assert first["facility"]["name"] in shown.text_content()
        assert first["start"][11:16] in shown.text_content()
        screenshot(page, "calendar-month.png")

        # The month holds more than one page: the next page comes through the API's cursor.
        loaded = page.text_content("#loaded")
        assert page.is_visible("#more")
        with page.expect_response(lambda r: "cursor=" in r.url and r.status == 200):
            page.click("#more")
        page.wait_for_function("t => document.getElementById('loaded').textContent !== t", arg=loaded)
        with psycopg.connect(web_db.url) as conn:
            in_month = conn.execute(
                "SELECT shifts.count_available_shifts(%s, '2023-02-01', '2023-03-01')", (worker,)
            ).fetchone()[0]
        assert in_month > 500
        assert page.text_content("#loaded").startswith(f"{min(in_month, 1000)} shifts loaded")
        assert page.locator(".day:not(.outside)").count() == 28

        # Week layout: every shift of that week's first day is listed.
        page.click("#view-week")
        page.wait_for_selector(".grid.week .shift")
        assert page.text_content("#period").startswith("Week of")
        day_shifts = web_server.request(
            f"/workers/{worker}/shifts?from={first['start'][:10]}&to={first['start'][:10]}T23:59:59.999&limit=1000"
        ).json()["shifts"]
        ids = page.locator(f".day[data-date='{first['start'][:10]}'] .shift").evaluate_all(
            "items => items.map(i => Number(i.dataset.shiftId))"
        )
        assert ids == [s["id"] for s in day_shifts]
    finally:
        page.close()


def test_unknown_worker_gets_a_clear_message(browser, web_server: Server):
    page = browser.new_page()
    try:
        show_worker(page, web_server, 2_000_000_000)
        page.wait_for_selector("#status.error")
        assert page.text_content("#status") == "No worker with id 2000000000. Check the id and try again."
        assert page.is_hidden("#calendar")
    finally:
        page.close()


def test_phone_layout_is_an_agenda_without_sideways_scrolling(browser, web_server: Server, web_db: WebDatabase):
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    try:
        page.goto(f"{web_server.base_url}/?worker={web_db.workers['RN']}")  # a shareable link works too
        page.wait_for_selector(".shift")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.is_hidden(".weekday >> nth=0")  # no 7-column grid on a phone
        first_day = page.locator(".day:not(.empty)").first
        assert first_day.bounding_box()["width"] > 300  # a day spans the screen
        font_px = page.eval_on_selector(".shift", "e => parseFloat(getComputedStyle(e).fontSize)")
        assert font_px >= 14
        screenshot(page, "calendar-phone.png", full_page=False)
    finally:
        page.close()
