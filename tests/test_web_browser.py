"""The calendar page in headless Chromium (Debian's package, driven by playwright-python; no browser download).

Skips, saying why, when chromium or playwright is missing; .ci/run installs chromium so CI always runs it.
Set CAREPG_SCREENSHOTS=DIR to also save the screenshots the docs use.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import psycopg
import pytest

from carepg import auth
from web_fixtures import TEST_KEY, Server, WebDatabase, token

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


def signed_in(server: Server, worker_id: int | None, query: str = "", *, staff: bool = False) -> str:
    """A sign-in link as `carepg serve` prints it: the page's address with the token in its fragment."""
    return f"{server.base_url}/{query}#token={token(worker_id, staff=staff)}"


def show_worker(page, server: Server, worker_id: int | str) -> None:
    """Sign in as staff, then look the worker up by id, as a person at the page would."""
    page.goto(signed_in(server, None, staff=True))
    page.fill("#worker", str(worker_id))
    page.click("#lookup button[type=submit]")


def status_is(page, text: str) -> None:
    page.wait_for_function("t => document.getElementById('status').textContent.startsWith(t)", arg=text)


def shown_ids(locator) -> list[int]:
    return locator.evaluate_all("items => items.map(i => Number(i.dataset.shiftId))")


def test_month_shows_every_visible_day_at_once(browser, web_server: Server, web_db: WebDatabase):
    """Each day of the month shows its count and first shifts, asked for what is on screen (never paged from
    the first shift of the data set), and a day's "more" continues that day only."""
    worker = web_db.workers["CNA"]
    days = web_server.request(f"/workers/{worker}/days?from=2023-02-01&to=2023-03-01&per_day=3").json()["days"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(signed_in(web_server, worker))  # the worker's own sign-in link opens their first month
        page.wait_for_selector(".shift")
        assert page.text_content("#period") == "February 2023"
        assert page.text_content("#status") == f"Available shifts for worker {worker}."
        assert page.locator(".day:not(.outside)").count() == 28
        assert len(days) == 28  # the seed has shifts every day: each must be on screen at once
        cells = page.locator(".day:not(.outside)").evaluate_all(
            """cells => cells.map(c => ({date: c.dataset.date, count: c.querySelector('.count').textContent,
                ids: [...c.querySelectorAll('.shift')].map(i => Number(i.dataset.shiftId)),
                first: c.querySelector('.shift').innerText, more: c.querySelector('.overflow').textContent}))""")
        for day, cell in zip(days, cells, strict=True):
            assert cell["date"] == day["date"] and cell["count"] == f"{day['available']:,} shifts"
            assert cell["ids"] == [s["id"] for s in day["shifts"]]
            assert cell["more"] == f"+{day['available'] - 3:,} more"
            first = day["shifts"][0]
            assert f"F{first['facility']['id']}" in cell["first"] and first["start"][11:16] in cell["first"]
        assert "not loaded" not in page.content()
        screenshot(page, "calendar-month.png")

        # "+N more" opens that week; a day's "Show more" continues that day through its cursor.
        busiest = max(days, key=lambda d: d["available"])
        page.click(f".day[data-date='{busiest['date']}'] .overflow")
        page.wait_for_selector(".grid.week .shift")
        assert page.text_content("#period").startswith("Week of")
        column = page.locator(f".day[data-date='{busiest['date']}']")
        whole = web_server.request(f"/workers/{worker}/shifts?from={busiest['date']}&to={busiest['date']}T23:59:59.999"
                                   "&limit=1000").json()["shifts"]  # fmt: skip
        assert len(whole) == busiest["available"] > 20
        assert shown_ids(column.locator(".shift")) == [s["id"] for s in whole[:20]]
        with page.expect_response(lambda r: "cursor=" in r.url and r.status == 200):
            column.locator(".overflow").click()
        page.wait_for_function("d => document.querySelectorAll(`.day[data-date='${d}'] .shift`).length > 20",
                               arg=busiest["date"])  # fmt: skip
        assert shown_ids(column.locator(".shift")) == [s["id"] for s in whole[:70]]
    finally:
        page.close()


@pytest.fixture
def owner(web_db: WebDatabase):
    """The owner's connection; every claim the test leaves is released and every worker it adds is removed."""
    with psycopg.connect(web_db.url, autocommit=True) as conn:
        before = {r[0] for r in conn.execute('SELECT id FROM "Shift" WHERE worker_id IS NOT NULL')}
        added: list[int] = []
        yield conn, added
        conn.execute('UPDATE "Shift" SET worker_id = NULL WHERE worker_id IS NOT NULL AND NOT (id = ANY (%s))',
                     (list(before),))  # fmt: skip
        conn.execute('DELETE FROM "DocumentWorker" WHERE worker_id = ANY (%s)', (added,))
        conn.execute('DELETE FROM "Worker" WHERE id = ANY (%s)', (added,))


def holder(conn, shift_id: int) -> int | None:
    return conn.execute('SELECT worker_id FROM "Shift" WHERE id = %s', (shift_id,)).fetchone()[0]


def test_claim_then_release_from_the_page(browser, web_server: Server, web_db: WebDatabase, owner):
    conn, _ = owner
    worker = web_db.workers["RN"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(signed_in(web_server, worker, "?view=month&date=2023-02-01"))
        page.wait_for_selector(".shift")
        cell = page.locator(".day[data-date='2023-02-01']")
        before = cell.locator(".count").text_content()
        target = cell.locator(".shift").first
        shift_id = int(target.get_attribute("data-shift-id"))
        target.locator(".claim").click()
        status_is(page, f"You claimed shift {shift_id}: Wed 1 Feb,")
        assert holder(conn, shift_id) == worker
        # At once: the shift is gone, and so is every shift that overlaps it (the day is asked again).
        page.wait_for_function("c => document.querySelector(\".day[data-date='2023-02-01'] .count\").textContent"
                               " !== c", arg=before)  # fmt: skip
        assert shift_id not in shown_ids(page.locator(".shift"))
        claimed = conn.execute('SELECT start, "end" FROM "Shift" WHERE id = %s', (shift_id,)).fetchone()
        for other in shown_ids(cell.locator(".shift")):
            start, end = conn.execute('SELECT start, "end" FROM "Shift" WHERE id = %s', (other,)).fetchone()
            assert end <= claimed[0] or start >= claimed[1], f"shift {other} overlaps the claimed {shift_id}"
        day = web_server.request(f"/workers/{worker}/days?from=2023-02-01&to=2023-02-02").json()["days"][0]
        assert cell.locator(".count").text_content() == f"{day['available']:,} shifts"

        page.click("#view-mine")
        item = page.locator(f"#mine-list .shift[data-shift-id='{shift_id}']")
        item.wait_for()
        assert page.text_content("#loaded") == "1 shift held."
        screenshot(page, "calendar-mine.png", full_page=False)
        item.locator(".release").click()
        status_is(page, f"You released shift {shift_id} (Wed 1 Feb,")
        page.wait_for_function("() => document.querySelectorAll('#mine-list .shift').length === 0")
        assert page.text_content("#loaded") == f"Worker {worker} holds no shifts."
        assert holder(conn, shift_id) is None
    finally:
        page.close()


def test_two_browsers_claiming_the_same_shift_one_wins_and_the_other_is_told(browser, web_server: Server,
                                                                           web_db: WebDatabase, owner):
    conn, added = owner
    me = web_db.workers["CNA"]
    rival = conn.execute("""INSERT INTO "Worker" (name, is_active, profession) VALUES ('rival', true, 'CNA')
                            RETURNING id""").fetchone()[0]  # fmt: skip
    added.append(rival)
    conn.execute('INSERT INTO "DocumentWorker" (worker_id, document_id) SELECT %s, id FROM "Document"', (rival,))
    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(2)]
    try:
        pages = [c.new_page() for c in contexts]
        for page, worker in zip(pages, (me, rival), strict=True):
            page.goto(signed_in(web_server, worker, f"?worker={worker}&view=month&date=2023-02-01"))
            page.wait_for_selector(".shift")
        shift_id = int(pages[0].locator(".day[data-date='2023-02-01'] .shift").first.get_attribute("data-shift-id"))
        buttons = [p.locator(f".shift[data-shift-id='{shift_id}'] .claim") for p in pages]
        for b in buttons:  # both see the same open shift
            assert b.count() == 1
        buttons[0].click(no_wait_after=True)  # both clicks go out before either answer is awaited
        buttons[1].click(no_wait_after=True)
        for page in pages:
            page.wait_for_function("() => ['done', 'error'].includes(document.getElementById('status').className)")
        texts = [p.text_content("#status") for p in pages]
        won = [t.startswith(f"You claimed shift {shift_id}:") for t in texts]
        assert sorted(won) == [False, True], texts
        loser = pages[won.index(False)]
        assert texts[won.index(False)] == f"Shift {shift_id} could not be claimed: someone else has just taken it."
        assert holder(conn, shift_id) == (me, rival)[won.index(True)]
        loser.wait_for_function("id => !document.querySelector(`.shift[data-shift-id='${id}']`)", arg=shift_id)
        screenshot(loser, "calendar-taken.png", full_page=False)
    finally:
        for c in contexts:
            c.close()


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
        page.goto(signed_in(web_server, web_db.workers["RN"], f"?worker={web_db.workers['RN']}"))  # a link works too
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


def test_signing_in_with_a_pasted_token_keeps_it_in_the_tab_only(browser, web_server: Server, web_db: WebDatabase):
    worker = web_db.workers["LVN"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(web_server.base_url + "/")
        status_is(page, "Sign in to see shifts")
        assert page.is_visible("#signin") and page.is_hidden("#lookup") and page.is_hidden("#calendar")
        mine = token(worker)
        page.fill("#token", mine)
        page.click("#signin button[type=submit]")
        page.wait_for_selector(".shift")
        assert page.text_content("#who") == f"Signed in as worker {worker}"
        assert page.text_content("#status") == f"Available shifts for worker {worker}."
        assert page.input_value("#token") == ""  # not left in the form
        assert page.evaluate("sessionStorage.getItem('carepg.token')") == mine
        assert page.evaluate("localStorage.length") == 0  # nothing that outlives the tab
        page.reload()  # the same tab stays signed in
        page.wait_for_selector(".shift")
        assert page.text_content("#who") == f"Signed in as worker {worker}"
        other = context.new_page()  # another tab starts signed out
        other.goto(web_server.base_url + "/")
        status_is(other, "Sign in to see shifts")
        page.click("#signout")
        status_is(page, "Sign in to see shifts")
        assert page.is_visible("#signin") and page.is_hidden("#calendar")
        assert page.evaluate("sessionStorage.getItem('carepg.token')") is None
        page.fill("#token", "not-a-token")
        page.click("#signin button[type=submit]")
        status_is(page, "That is not a sign-in token")
    finally:
        context.close()


def test_a_sign_in_link_leaves_no_token_in_the_address_or_the_server_log(browser, web_server: Server,
                                                                       web_db: WebDatabase):
    worker = web_db.workers["CNA"]
    link = signed_in(web_server, worker)
    minted = link.split("#token=", 1)[1]
    page = browser.new_page()
    try:
        sent: list[str] = []
        page.on("request", lambda r: sent.append(r.url))
        page.goto(link)
        page.wait_for_selector(".shift")
        assert page.evaluate("location.hash") == "" and minted not in page.url
        assert page.text_content("#who") == f"Signed in as worker {worker}"
        assert all(minted not in url for url in sent)  # the fragment never went out; the header did
        rid = web_server.request("/healthz").headers["x-request-id"]
        assert minted not in web_server.log_path.read_text(), "a token reached the server log"
        assert web_server.log_lines(until_request_id=rid)
    finally:
        page.close()


def test_an_expired_sign_in_and_another_workers_shifts_are_said_plainly(browser, web_server: Server,
                                                                       web_db: WebDatabase):
    me, other = web_db.workers["CNA"], web_db.workers["RN"]
    page = browser.new_page()
    try:
        expired = auth.mint(TEST_KEY, worker_id=me, staff=False, ttl_seconds=60, now=time.time() - 3600)
        page.goto(f"{web_server.base_url}/#token={expired}")
        page.wait_for_selector("#status.error")
        text = page.text_content("#status")
        assert text.startswith("Your sign-in was not accepted (the token has expired") and text.endswith(
            "Sign in again."), text
        assert page.is_visible("#signin") and page.is_hidden("#calendar")
        assert page.evaluate("sessionStorage.getItem('carepg.token')") is None

        page.goto(signed_in(web_server, me, f"?worker={other}"))
        page.wait_for_selector("#status.error")
        assert page.text_content("#status") == (
            f"You are signed in as worker {me}: worker {other}'s shifts are not yours to see or take. Sign in as "
            "that worker, or look up your own id.")
        assert page.is_hidden("#calendar") and page.is_visible("#session")
    finally:
        page.close()


def test_month_rows_name_facilities_a_person_can_tell_apart(browser, web_server: Server, web_db: WebDatabase):
    worker = web_db.workers["CNA"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(signed_in(web_server, worker, "?view=month&date=2023-02-01"))
        page.wait_for_selector(".shift")
        labels = page.locator(".grid.month .shift .facility").evaluate_all(
            "items => items.map(i => ({text: i.innerText.trim(), id: i.closest('.shift').title}))")
        assert labels and all(re.fullmatch(r"F[0-9]+", label["text"]) for label in labels), labels[:5]
        assert len({label["text"] for label in labels}) > 1  # the seed's shifts are at several facilities
        # Every label is shown whole, not cut to a letter.
        assert page.locator(".grid.month .shift .facility").evaluate_all(
            "items => items.every(i => i.scrollWidth <= i.clientWidth)")
        page.click("#view-week")
        page.wait_for_selector(".grid.week .shift")
        first = page.locator(".grid.week .shift .facility").first.inner_text()
        assert re.fullmatch(r"F[0-9]+ [0-9a-f]{12}", first), first  # in a week there is room for the name's start
    finally:
        page.close()


def test_the_page_follows_changes_made_elsewhere(browser, web_server: Server, web_db: WebDatabase, owner):
    """A shift claimed in another tab (here: by the API, for another worker) leaves the page on its own, and a new
    shift appears, without a click: the page follows /workers/{id}/events."""
    conn, _ = owner
    worker = web_db.workers["CNA"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    new = None
    try:
        page.goto(signed_in(web_server, worker, "?view=week&date=2023-02-06"))
        page.wait_for_selector(".shift")
        day = page.locator(".day[data-date='2023-02-06']")
        first = day.locator(".shift").first
        taken = int(first.get_attribute("data-shift-id"))
        rival = conn.execute("""SELECT w.id FROM "Worker" w JOIN "Shift" s ON s.id = %s WHERE w.id <> %s
                                AND w.is_active AND w.profession = s.profession
                                AND shifts.docs_ok(w.id, s.facility_id) LIMIT 1""", (taken, worker)).fetchone()  # fmt: skip
        if rival is not None:
            conn.execute("SELECT shifts.claim_shift(%s, %s)", (rival[0], taken))
        else:  # nobody else may take it here: the application takes it off the market itself
            conn.execute('UPDATE "Shift" SET is_deleted = true WHERE id = %s', (taken,))
        page.wait_for_function(f"() => !document.querySelector('.shift[data-shift-id=\"{taken}\"]')")
        facility = conn.execute('SELECT facility_id FROM "Shift" WHERE id = %s', (taken,)).fetchone()[0]
        new = conn.execute("""INSERT INTO "Shift" (start, "end", profession, facility_id)
                              SELECT '2023-02-06 00:00', '2023-02-06 01:00', profession, %s FROM "Worker"
                              WHERE id = %s RETURNING id""", (facility, worker)).fetchone()[0]  # fmt: skip
        page.wait_for_selector(f".day[data-date='2023-02-06'] .shift[data-shift-id='{new}']")
    finally:
        page.close()
        conn.execute('UPDATE "Shift" SET is_deleted = false WHERE id = %s', (taken,))
        if new is not None:
            conn.execute('DELETE FROM "Shift" WHERE id = %s', (new,))
