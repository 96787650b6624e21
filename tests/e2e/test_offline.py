"""Offline-first in a real headless Chromium: the outbox, offline pages and search, sync, conflicts.

Each story has its own rep (seeded here, in the team the seeded manager leads), so the stories do not
depend on each other nor on `test_field_app.py`, which writes the first rep's report for today.
The first three tests are one story (a day logged offline, kept across pages, synced once), sharing
`DAY`; a later step skips, saying why, when an earlier one did not get that far.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import MANAGER, PHONE, TABLET, TEAM, _run, sign_in
from tests.factories import PASSWORD

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium_path fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = pytest.mark.e2e

FIELD_REP = {"username": "hanmei", "name": "Han Mei"}
CONFLICT_REP = {"username": "sunli", "name": "Sun Li"}
EXPIRY_REP = {"username": "zhoujie", "name": "Zhou Jie"}
CUSTOMERS = {
    FIELD_REP["username"]: ["Sunrise Hardware Minhang", "Golden Lotus Tea House"],
    CONFLICT_REP["username"]: ["Harbour View Optics"],
    EXPIRY_REP["username"]: ["Jade River Pharmacy"],
}
NEW_CUSTOMER = "Blue Sky Stationery"
VISIT_ONE = "Offline visit one: left samples at the front desk."
VISIT_TWO = "Offline visit two: the owner wants a price list."
REPORT_TEXT = "Two visits logged with no network; new customer Blue Sky Stationery."
APPROVED_TEXT = "Submitted online before going out."
OFFLINE_EDIT = "Edited offline after submitting: add the order of 12 boxes."
LONG_MS = 30_000  # syncs and service-worker work on a shared, slow machine

DAY: dict[str, object] = {}


def _needs(key: str):
    if key not in DAY:
        pytest.skip(f"needs the earlier step of the offline day ({key} not reached)")
    return DAY[key]


def _today() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


@pytest.fixture(scope="module")
def reps(live_server, live_env):
    """Three more reps in the manager's team, each with their own customers."""
    snippet = f"""
import asyncio, os, sys
from server import cli, db
from server.accounts.tables import User
from server.settings import Settings
from tests import factories

def bind():
    db.bind(db.make_engine(Settings.from_env().effective_database_url))

bind()
for username, name in {[(r["username"], r["name"]) for r in (FIELD_REP, CONFLICT_REP, EXPIRY_REP)]!r}:
    args = ["create-user", username, "--name", name, "--role", "rep", "--team", {TEAM!r}]
    assert cli.main([*args, "--password", factories.PASSWORD]) == 0, args

async def customers():
    bind()
    for username, names in {CUSTOMERS!r}.items():
        rep = (await User.select(User.id).where(User.username == username).first())["id"]
        for name in names:
            await factories.customer(rep, name)

asyncio.run(customers())
sys.stdout.flush()
os._exit(0)
"""
    _run(["-c", snippet], live_env)
    return Path(live_env["FIELDPACE_DATA_DIR"]) / "e2e.sqlite3"


@pytest.fixture(scope="module")
def field_context(browser, live_server, reps):
    """The field rep's phone for the offline day: one browser context across its three steps."""
    from tests.e2e.conftest import TIMEOUT_MS

    context = browser.new_context(base_url=live_server, locale="en-US", timezone_id="Asia/Shanghai", **PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


def _query(db: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def _rep_id(db: Path, username: str) -> str:
    return _query(db, "SELECT id FROM app_user WHERE username = ?", username)[0][0]


# --- page probes ----------------------------------------------------------------------------------

def _poll(page, predicate: str, arg=None, timeout_ms: int = LONG_MS) -> None:
    """Poll an async predicate inside the page until it is true (page.wait_for_function neither awaits a
    promise nor polls under the app's CSP, which forbids eval)."""
    ok = page.evaluate("""async ([arg, timeout]) => {
        const predicate = %s;
        const deadline = Date.now() + timeout;
        while (Date.now() < deadline) {
            try { if (await predicate(arg)) return true; } catch (e) { /* not ready yet */ }
            await new Promise((resolve) => setTimeout(resolve, 200));
        }
        return false;
    }""" % predicate, [arg, timeout_ms])
    assert ok, f"not reached within {timeout_ms} ms: {predicate}"


def _wait_ready_offline(page, today: str) -> None:
    """The service worker controls the page, has stored the pages a rep needs offline, and the pull
    has put the rep's customers into IndexedDB."""
    # (wait_for_function would poll through eval, which the app's CSP forbids.)
    _poll(page, "async () => navigator.serviceWorker.controller !== null")
    _poll(page, """async (paths) => {
        const cache = await caches.open("fieldpace-pages-" + document.body.dataset.user);
        const keys = (await cache.keys()).map((r) => new URL(r.url).pathname);
        return paths.every((p) => keys.includes(p));
    }""", ["/home", "/customers", "/visits/new", "/customers/new", f"/reports/daily/{today}"])
    _poll(page, """async () => {
        const db = await new Promise((ok, ko) => { const r = indexedDB.open("fieldpace", 1); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); r.onupgradeneeded = () => r.transaction.abort(); });
        try {
            const rows = await new Promise((ok, ko) => { const r = db.transaction("records").objectStore("records").getAll(); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
            return rows.filter((row) => row.type === "customer" && row.user === document.body.dataset.user).length > 0;
        } finally { db.close(); }
    }""")


def _badge(page):
    return page.locator("#sync-badge")


def _expect_waiting(page, count: int) -> None:
    expect(_badge(page)).to_be_visible()
    expect(_badge(page).locator("[data-count]")).to_have_text(str(count))
    # The count in the top bar never makes a 360 px page scroll sideways (it once pushed the tab bar
    # out of the viewport's hit area).
    width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"the page is {width[0]} px wide in a {width[1]} px viewport"


def _tab(page, name: str):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def _log_visit_offline(page, search: str, customer: str, outcome: str) -> None:
    _tab(page, "Log visit").click()
    expect(page.get_by_role("heading", name="Log visit")).to_be_visible()
    page.get_by_label("Search customers").press_sequentially(search, delay=30)
    choice = page.get_by_label(customer, exact=True)
    expect(choice).to_be_visible()
    choice.check()
    page.get_by_label("Purpose").select_option(label="Demo")
    page.get_by_label("Outcome").fill(outcome)
    page.get_by_role("button", name="Save visit").click()
    expect(page).to_have_url(re.compile(r"/home\?queued=1$"))
    expect(page.get_by_role("heading", name="Today", exact=False).first).to_be_visible()


# --- the offline day ------------------------------------------------------------------------------

def test_a_day_logged_offline_waits_on_the_phone(field_context):
    today = _today()
    context = field_context
    page = context.new_page()
    sign_in(page, FIELD_REP["username"])
    page.goto("/home")
    _wait_ready_offline(page, today)

    context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", name="Today", exact=False).first).to_be_visible()
    expect(page.locator("#offline-indicator")).to_be_visible()

    # The customer list searches what the phone holds.
    _tab(page, "Customers").click()
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    page.get_by_label("Search customers").press_sequentially("lotus", delay=30)
    results = page.locator("#customer-results")
    expect(results).to_contain_text("Golden Lotus Tea House")
    expect(results).not_to_contain_text("Sunrise Hardware")

    _log_visit_offline(page, "sunrise", "Sunrise Hardware Minhang", VISIT_ONE)
    waiting = page.locator("li.pending-item")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text("Sunrise Hardware Minhang")
    expect(waiting).to_contain_text("Waiting to sync")
    _expect_waiting(page, 1)

    _log_visit_offline(page, "golden", "Golden Lotus Tea House", VISIT_TWO)
    expect(page.locator("li.pending-item")).to_have_count(2)
    expect(page.locator("li.pending-item").filter(has_text="Golden Lotus Tea House")).to_contain_text("Waiting to sync")
    _expect_waiting(page, 2)

    _tab(page, "Customers").click()
    page.get_by_role("link", name="Add customer").click()
    expect(page.get_by_role("heading", name="Add customer")).to_be_visible()
    page.get_by_label("Customer name").fill(NEW_CUSTOMER)
    page.get_by_label("Contact person").fill("Ms Qian")
    page.get_by_role("button", name="Save customer").click()
    expect(page).to_have_url(re.compile(r"/customers\?queued=1$"))
    added = page.locator("#customer-results li").filter(has_text=NEW_CUSTOMER)
    expect(added).to_have_count(1)
    expect(added).to_contain_text("Waiting to sync")
    _expect_waiting(page, 3)

    page.goto(f"/reports/daily/{today}")
    expect(page.get_by_role("heading", name="Daily report")).to_be_visible()
    page.get_by_label("Work summary").fill(REPORT_TEXT)
    page.get_by_label("Plan for tomorrow").fill("Call Blue Sky about the order.")
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page).to_have_url(re.compile(r"/reports\?queued=1$"))
    _expect_waiting(page, 4)

    DAY["context"] = context
    DAY["page"] = page


def test_the_waiting_items_survive_closing_the_page(field_context):
    context = _needs("context")
    DAY.pop("context")
    DAY["page"].close()
    page = context.new_page()
    page.goto("/home")
    expect(page.get_by_role("heading", name="Today", exact=False).first).to_be_visible()
    _expect_waiting(page, 4)
    expect(page.locator("li.pending-item")).to_have_count(2)

    page.goto("/sync")
    pending = page.locator("#outbox-pending > li.outbox-item")
    expect(pending).to_have_count(4)
    for text in ("Sunrise Hardware Minhang", VISIT_ONE, "Golden Lotus Tea House", VISIT_TWO, NEW_CUSTOMER, REPORT_TEXT):
        expect(page.locator("#outbox-pending")).to_contain_text(text)
    expect(page.locator("#outbox-attention > li.outbox-item")).to_have_count(0)
    DAY["offline_context"] = context
    DAY["offline_page"] = page


def test_back_online_everything_syncs_exactly_once(new_context, reps):
    context = _needs("offline_context")
    page = DAY["offline_page"]
    context.set_offline(False)
    expect(_badge(page)).to_be_hidden(timeout=LONG_MS)
    expect(page.locator("#outbox-pending")).to_contain_text("Everything is synced.")
    expect(page.locator("#outbox-pending > li.outbox-item")).to_have_count(0)
    page.goto("/customers")
    expect(page.locator("#customer-results")).to_contain_text(NEW_CUSTOMER)

    manager = new_context(**TABLET).new_page()
    sign_in(manager, MANAGER["username"])
    manager.goto("/team/visits")
    feed = manager.locator("main .list li")
    expect(feed.filter(has_text=VISIT_ONE)).to_have_count(1)
    expect(feed.filter(has_text=VISIT_TWO)).to_have_count(1)
    expect(feed.filter(has_text=VISIT_ONE)).to_contain_text(FIELD_REP["name"])
    manager.goto("/manager/queue")
    queued = manager.locator('main a[href^="/reports/"]').filter(has_text=FIELD_REP["name"])
    expect(queued).to_have_count(1)
    expect(queued).to_contain_text(REPORT_TEXT)

    rep = _rep_id(reps, FIELD_REP["username"])
    assert _query(reps, "SELECT outcome FROM visit WHERE rep = ? ORDER BY outcome", rep) == [(VISIT_ONE,), (VISIT_TWO,)]
    assert _query(reps, "SELECT count(*) FROM customer WHERE name = ?", NEW_CUSTOMER) == [(1,)]
    assert _query(reps, "SELECT status, summary FROM report WHERE rep = ?", rep) == [("submitted", REPORT_TEXT)]


# --- conflict ------------------------------------------------------------------------------------

def test_an_offline_edit_of_a_report_approved_meanwhile_is_a_conflict(new_context, reps):
    today = _today()
    context = new_context(**PHONE)
    page = context.new_page()
    sign_in(page, CONFLICT_REP["username"])
    # Online: the rep writes and submits today's report through the form.
    page.goto(f"/reports/daily/{today}")
    page.get_by_label("Work summary").fill(APPROVED_TEXT)
    page.get_by_role("button", name="Submit", exact=True).click()
    # The report's own page, submitted: the story's own check, whatever flash message it carries.
    expect(page).to_have_url(re.compile(r"/reports/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", name=re.compile(r"^Daily report"))).to_be_visible()
    report_path = "/reports/" + page.url.rsplit("/reports/", 1)[1]
    report_id = report_path.rsplit("/", 1)[1]
    page.goto("/home")
    _wait_ready_offline(page, today)

    # Offline, the rep changes the submitted text (the form is read-only online once submitted, so
    # the change goes through the outbox API the forms use).
    context.set_offline(True)
    page.evaluate("""([id, day, text]) => window.fieldpaceOutbox.enqueue("report.save", id, {
        id: id, kind: "daily", period_start: day, status: "submitted", summary: text, results: "",
        problems: "", plan: "", submit: true,
    }, "Daily report · " + day)""", [report_id, today, OFFLINE_EDIT])
    _expect_waiting(page, 1)

    manager = new_context(**TABLET).new_page()
    sign_in(manager, MANAGER["username"])
    manager.goto(report_path)
    manager.get_by_role("button", name="Approve", exact=True).click()
    expect(manager.get_by_text("Report approved.")).to_be_visible()

    page.goto("/sync")  # offline: from the page cache
    expect(page.locator("#outbox-pending")).to_contain_text(OFFLINE_EDIT)
    context.set_offline(False)
    attention = page.locator("#outbox-attention > li.outbox-item")
    expect(attention).to_have_count(1, timeout=LONG_MS)
    expect(attention).to_contain_text("Conflict")
    expect(attention).to_contain_text("approved this report meanwhile")
    expect(attention).to_contain_text(OFFLINE_EDIT)
    expect(attention.get_by_role("link", name="Fix and send again")).to_be_visible()
    expect(page.locator("#outbox-pending > li.outbox-item")).to_have_count(0)
    expect(_badge(page)).to_be_visible()
    expect(_badge(page)).to_have_class(re.compile(r"\bneeds-attention\b"))

    rep = _rep_id(reps, CONFLICT_REP["username"])
    assert _query(reps, "SELECT status, summary FROM report WHERE rep = ?", rep) == [("approved", APPROVED_TEXT)]
    manager.goto(report_path)
    expect(manager.locator(".page-head .pill")).to_have_text("Approved")
    expect(manager.get_by_text(APPROVED_TEXT)).to_be_visible()


# --- session expiry ------------------------------------------------------------------------------

def test_an_expired_session_keeps_the_queue_until_the_rep_signs_in_again(new_context, reps):
    today = _today()
    context = new_context(**PHONE)
    page = context.new_page()
    sign_in(page, EXPIRY_REP["username"])
    _wait_ready_offline(page, today)

    context.set_offline(True)
    outcome = "Logged offline while the session ran out."
    _log_visit_offline(page, "jade", "Jade River Pharmacy", outcome)
    _expect_waiting(page, 1)

    context.clear_cookies()  # the session expired meanwhile
    context.set_offline(False)
    expect(page.locator("#signin-banner")).to_be_visible(timeout=LONG_MS)
    _expect_waiting(page, 1)
    rep = _rep_id(reps, EXPIRY_REP["username"])
    assert _query(reps, "SELECT count(*) FROM visit WHERE rep = ?", rep) == [(0,)]

    page.locator("#signin-banner").get_by_role("link", name="Sign in").click()
    page.get_by_label("Username").fill(EXPIRY_REP["username"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    # The badge starts hidden on a fresh page: wait for the outbox itself to be empty, not for the badge.
    _poll(page, """async () => (await window.fieldpaceOutbox.items()).length === 0""")
    expect(_badge(page)).to_be_hidden(timeout=LONG_MS)
    expect(page.locator("#signin-banner")).to_be_hidden()
    assert _query(reps, "SELECT outcome FROM visit WHERE rep = ?", rep) == [(outcome,)]
