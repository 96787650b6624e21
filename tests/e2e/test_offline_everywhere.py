"""Offline everywhere a rep goes, in a real headless Chromium at 360 px, in English and Chinese: the
installed app's start URL after a browser restart, every screen a rep opens, the report forms through the
outbox (the network dropped mid-submit, the session expired), the first sync after a restart, the
customer added from the visit form, the report prefilled with offline visits, signing out offline.

Each story has its own rep (seeded here), so the stories depend neither on each other nor on the other
browser tests.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from server.i18n import translations
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, TEAM, TIMEOUT_MS, _run
from tests.e2e.test_offline import _poll, _query, _rep_id, _today
from tests.factories import PASSWORD

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium_path fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = pytest.mark.e2e

LONG_MS = 30_000
RESTART_REPS = {"en": ("qianyu", "Qian Yu"), "zh_CN": ("luofang", "Luo Fang")}
REPORT_REPS = {"request": ("dengli", "Deng Li"), "reply": ("caiwen", "Cai Wen")}
EXPIRY_REP = ("tangjun", "Tang Jun")
ROUND_TRIP_REP = ("xuemei", "Xue Mei")
SIGNOUT_REP = ("fengyan", "Feng Yan")
ALL_REPS = [*RESTART_REPS.values(), *REPORT_REPS.values(), EXPIRY_REP, ROUND_TRIP_REP, SIGNOUT_REP]
CUSTOMER_OF = {username: f"{name.split()[1]} Family Grocery" for username, name in ALL_REPS}
BROWSER_LOCALE = {"en": "en-US", "zh_CN": "zh-CN"}


def _t(locale: str):
    return translations(locale).gettext


@pytest.fixture(scope="module")
def reps(live_server, live_env) -> Path:
    """The reps of these stories, in the seeded manager's team, each with one customer."""
    snippet = f"""
import asyncio, os, sys
from server import cli, db
from server.accounts.tables import User
from server.settings import Settings
from tests import factories

def bind():
    db.bind(db.make_engine(Settings.from_env().effective_database_url))

bind()
for username, name in {ALL_REPS!r}:
    args = ["create-user", username, "--name", name, "--role", "rep", "--team", {TEAM!r}]
    assert cli.main([*args, "--password", factories.PASSWORD]) == 0, args

async def customers():
    bind()
    for username, name in {CUSTOMER_OF!r}.items():
        rep = (await User.select(User.id).where(User.username == username).first())["id"]
        await factories.customer(rep, name)

asyncio.run(customers())
sys.stdout.flush()
os._exit(0)
"""
    _run(["-c", snippet], live_env)
    return Path(live_env["FIELDPACE_DATA_DIR"]) / "e2e.sqlite3"


def _phone(browser, live_server, locale: str = "en", profile: Path | None = None, offline: bool = False):
    """A phone: a fresh context, or a persistent one on `profile` (closing it is a browser restart).
    `offline` from the start (the page's navigator.onLine; see `Link` for the service worker's network)."""
    options = dict(base_url=live_server, locale=BROWSER_LOCALE[locale], timezone_id="Asia/Shanghai",
                   offline=offline, **PHONE)
    if profile is None:
        context = browser.new_context(**options)
    else:
        context = browser.browser_type.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


class Link:
    """The phone's network, as a TCP relay in front of the server that can be cut. Chromium's offline
    emulation misses a service worker that starts with a persistent context (a browser restart), so
    there the worker would still reach the server; through a cut link nothing does."""

    def __init__(self, target: str) -> None:
        import socket
        import threading

        host, port = target.rsplit("//", 1)[1].rsplit(":", 1)
        self.target = (host, int(port))
        self.up = True
        self.open: list = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _addr = self.server.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.close()
                except OSError:
                    pass

    def cut(self) -> None:
        self.up = False
        for sock in self.open:
            try:
                sock.close()
            except OSError:
                pass
        self.open.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.server.close()


def _sign_in(page, username: str, locale: str = "en") -> None:
    t = _t(locale)
    page.goto("/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page.get_by_role("button", name=t("Sign out"))).to_be_visible()


def _monday(day: str) -> str:
    d = date.fromisoformat(day)
    return (d - timedelta(days=d.weekday())).isoformat()


def _cached_paths(page) -> list[str]:
    return page.evaluate("""async () => {
        const cache = await caches.open("fieldpace-pages-" + document.body.dataset.user);
        return (await cache.keys()).map((r) => new URL(r.url).pathname);
    }""")


def _wait_cached(page, paths: list[str]) -> None:
    _poll(page, "async () => navigator.serviceWorker.controller !== null")
    _poll(page, """async (paths) => {
        const cache = await caches.open("fieldpace-pages-" + document.body.dataset.user);
        const keys = (await cache.keys()).map((r) => new URL(r.url).pathname);
        return paths.every((p) => keys.includes(p));
    }""", paths)
    _poll(page, """async () => (await window.fieldpaceOutbox.localRecords("customer")).length > 0""")


def _customer_id(db: Path, name: str) -> str:
    return _query(db, "SELECT id FROM customer WHERE name = ?", name)[0][0]


def _outbox_empty(page) -> None:
    _poll(page, "async () => (await window.fieldpaceOutbox.items()).length === 0")


def _log_visit(page, locale: str, customer: str, outcome: str) -> None:
    t = _t(locale)
    page.goto("/visits/new")
    page.get_by_label(t("Search customers")).press_sequentially(customer.split()[0], delay=30)
    page.get_by_label(customer, exact=True).check()
    page.locator("select[name=purpose]").select_option("demo")
    page.get_by_label(t("Outcome")).fill(outcome)
    page.get_by_role("button", name=t("Save visit")).click()
    expect(page).to_have_url(re.compile(r"/home\?queued=1$"))


def _expect_saved_on_phone(page, locale: str, signin: bool = False) -> None:
    t = _t(locale)
    text = ("Saved on this phone. It will sync once you sign in again." if signin
            else "Saved on this phone. It will sync when there is a network.")
    expect(page.locator("#queued-note")).to_be_visible()
    expect(page.locator("#queued-note")).to_have_text(t(text))


# --- the home-screen icon, offline, after a browser restart ---------------------------------------

@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_the_installed_app_opens_every_screen_offline_after_a_restart_and_then_syncs(
        browser, live_server, reps, tmp_path, locale):
    t = _t(locale)
    username, _name = RESTART_REPS[locale]
    customer = CUSTOMER_OF[username]
    customer_path = f"/customers/{_customer_id(reps, customer)}"
    today = _today()
    week = _monday(today)
    profile = tmp_path / "profile"
    outcome = f"Logged offline before the restart ({locale})."
    link = Link(live_server)
    origin = link.url

    context = _phone(browser, origin, locale, profile)
    try:
        page = context.pages[0] if context.pages else context.new_page()
        _sign_in(page, username, locale)
        page.goto("/home")
        _wait_cached(page, ["/home", "/visits", "/sync", f"/reports/weekly/{week}", f"/reports/daily/{today}"])
        # The read-only pages follow the pull: settings, the sales pages, every customer's page.
        _wait_cached(page, ["/settings", "/sales", "/orders", "/opportunities", "/collections", customer_path])
        _poll(page, """async () => !!(await (await caches.open("fieldpace-state")).match("/__fieldpace/start-page"))""")
    finally:
        context.close()  # the browser quits: its session cookies (not the persistent ones) are gone

    # Next morning, in the basement: a visit logged with no network, then the browser is closed again.
    link.cut()
    context = _phone(browser, origin, locale, profile, offline=True)
    try:
        page = context.pages[0] if context.pages else context.new_page()
        _log_visit(page, locale, customer, outcome)
        _expect_saved_on_phone(page, locale)
    finally:
        context.close()

    context = _phone(browser, origin, locale, profile, offline=True)
    try:
        page = context.pages[0] if context.pages else context.new_page()
        home = page.locator("main h1").filter(has_text=re.compile("^" + re.escape(t("Today"))))
        for start in ("/?source=pwa", "/"):
            response = page.goto(start)
            assert response is not None and response.from_service_worker, start
            expect(home).to_be_visible()
            expect(page.locator("#offline-indicator")).to_be_visible()
        expect(page.locator("li.pending-item")).to_contain_text(customer)

        # The weekly report: the link and the page the phone holds name the same week.
        page.goto("/reports")
        page.get_by_role("link", name=t("This week's report")).click()
        expect(page.get_by_role("heading", name=t("Weekly report"))).to_be_visible()
        assert page.url.endswith(f"/reports/weekly/{week}")
        expect(page.locator("form input[name=period_start]")).to_have_value(week)

        for path, heading in [("/visits", t("My visits")), (customer_path, customer), ("/settings", t("Settings")),
                              ("/sales", t("Sales")), (f"/reports/daily/{today}", t("Daily report"))]:
            page.goto(path)
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        page.goto("/visits")
        expect(page.locator("li.pending-item")).to_contain_text(customer)

        # A page the phone does not hold: the offline page, with the tab bar and links to what it holds.
        page.goto("/opportunities/new")
        expect(page.get_by_role("heading", name=t("You are offline"))).to_be_visible()
        tabs = page.get_by_role("navigation", name=t("Main"))
        expect(tabs.get_by_role("link", name=t("Log visit"))).to_be_visible()
        cached = page.locator("#offline-cached")
        expect(cached.get_by_role("link", name=t("Today"), exact=True)).to_be_visible()
        expect(cached.get_by_role("link", name=customer)).to_be_visible()
        assert _name not in page.locator("header").inner_text()  # the offline page names nobody
        cached.get_by_role("link", name=t("Today"), exact=True).click()
        expect(home).to_be_visible()

        # Online again: the first sync after the restart goes through (the CSRF cookie outlived it).
        assert any(c["name"] == "fieldpace_csrf" for c in context.cookies()), "the CSRF cookie died with the browser"
        link.restore()
        context.set_offline(False)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        _outbox_empty(page)
        expect(page.locator("#signin-banner")).to_be_hidden()
        rep = _rep_id(reps, username)
        assert _query(reps, "SELECT outcome FROM visit WHERE rep = ?", rep) == [(outcome,)]
    finally:
        context.close()
        link.close()


# --- report saves through the outbox, the network dropped mid-submit ---------------------------------

@pytest.mark.parametrize(("drop", "locale"), [("request", "en"), ("reply", "zh_CN")])
def test_each_report_save_goes_through_the_outbox_when_the_network_drops_mid_submit(
        browser, live_server, reps, drop, locale):
    """`request`: the post never reaches the server. `reply`: it does, and the answer is lost; the queued
    copy then syncs as the same save, not a second report nor a conflict."""
    t = _t(locale)
    username, _name = REPORT_REPS[drop]
    today = _today()
    context = _phone(browser, live_server, locale)
    posts: list[str] = []
    try:
        page = context.new_page()
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        _sign_in(page, username, locale)
        page.goto("/home")
        _wait_cached(page, ["/reports", f"/reports/daily/{today}"])

        def cut(route):
            if route.request.method != "POST":
                route.continue_()
                return
            if drop == "reply":
                route.fetch()  # the server gets it...
            route.abort("internetdisconnected")  # ...and the phone hears nothing

        for kind, day in (("daily", today), ("weekly", _monday(today))):
            text = f"{kind} report typed on one bar ({drop})."
            page.goto(f"/reports/{kind}/{day}")
            page.get_by_label(t("Work summary")).fill(text)
            page.route("**/reports", cut)
            page.get_by_role("button", name=t("Submit"), exact=True).click()
            expect(page).to_have_url(re.compile(r"/reports\?queued=1$"))
            _expect_saved_on_phone(page, locale)
            page.unroute("**/reports")
            _outbox_empty(page)  # the page it landed on synced it
            rep = _rep_id(reps, username)
            assert _query(reps, "SELECT status, summary FROM report WHERE rep = ? AND kind = ?", rep, kind) == \
                [("submitted", text)]
        assert not [u for u in posts if "RadioNodeList" in u], posts
        assert [u for u in posts if u.endswith("/reports")], posts
        page.goto("/sync")
        expect(page.locator("#outbox-attention > li.outbox-item")).to_have_count(0)
    finally:
        context.close()


# --- an expired session during any save --------------------------------------------------------------

def test_a_save_into_an_expired_session_is_kept_on_the_phone_and_says_so(browser, live_server, reps):
    username, _name = EXPIRY_REP
    customer = CUSTOMER_OF[username]
    today = _today()
    rep = _rep_id(reps, username)
    context = _phone(browser, live_server)
    try:
        page = context.new_page()
        _sign_in(page, username)
        forms = [
            ("visit", "/visits/new", "Outcome", "Visit saved as the session ran out.", "Save visit"),
            ("customer", "/customers/new", "Customer name", "Late Night Noodles", "Save customer"),
            ("daily", f"/reports/daily/{today}", "Work summary", "Daily report saved as the session ran out.", "Submit"),
            ("weekly", f"/reports/weekly/{_monday(today)}", "Work summary", "Weekly report, session gone.", "Save draft"),
        ]
        for what, path, label, text, button in forms:
            page.goto(path)
            if what == "visit":
                page.get_by_label("Search customers").press_sequentially(customer.split()[0], delay=30)
                page.get_by_label(customer, exact=True).check()
            page.get_by_label(label).fill(text)
            # The session ends on the server while the form is open.
            ended = _query(reps, 'DELETE FROM user_session WHERE "user" = ? RETURNING id', rep)
            assert ended
            page.get_by_role("button", name=button, exact=True).click()
            _expect_saved_on_phone(page, "en", signin=True)
            expect(page.locator("#signin-banner")).to_be_visible()
            expect(page.get_by_label(label)).to_have_value(text)  # nothing typed is lost
            _poll(page, "async () => (await window.fieldpaceOutbox.items()).length === 1")

            page.locator("#signin-banner").get_by_role("link", name="Sign in").click()
            page.locator("input[name=username]").fill(username)
            page.locator("input[name=password]").fill(PASSWORD)
            page.locator("form button[type=submit]").click()
            expect(page.get_by_role("button", name="Sign out")).to_be_visible()
            _outbox_empty(page)
        assert _query(reps, "SELECT outcome FROM visit WHERE rep = ?", rep) == [(forms[0][3],)]
        assert _query(reps, "SELECT count(*) FROM customer WHERE name = ? AND owner = ?", forms[1][3], rep) == [(1,)]
        assert _query(reps, "SELECT kind, status, summary FROM report WHERE rep = ? ORDER BY kind", rep) == [
            ("daily", "submitted", forms[2][3]), ("weekly", "draft", forms[3][3])]
    finally:
        context.close()


# --- the add-customer round trip and the report prefilled offline -----------------------------------

def test_offline_a_customer_added_from_the_visit_form_comes_back_chosen_and_the_report_lists_the_visit(
        browser, live_server, reps):
    username, _name = ROUND_TRIP_REP
    today = _today()
    new_customer = "Moonlight Bicycle Repair"
    outcome = "Fixed a price for ten bicycles."
    context = _phone(browser, live_server)
    try:
        page = context.new_page()
        _sign_in(page, username)
        page.goto("/home")
        _wait_cached(page, ["/visits/new", "/customers/new", f"/reports/daily/{today}"])

        context.set_offline(True)
        page.goto("/visits/new")
        page.get_by_label("Outcome").fill(outcome)  # typed before noticing the customer is new
        page.get_by_role("link", name="Add a new customer").click()
        page.get_by_label("Customer name").fill(new_customer)
        page.get_by_role("button", name="Save customer").click()
        expect(page).to_have_url(re.compile(r"/visits/new\?customer=[0-9a-f-]{36}&queued=1$"))
        _expect_saved_on_phone(page, "en")
        expect(page.get_by_label(new_customer, exact=True)).to_be_checked()
        expect(page.get_by_label("Outcome")).to_have_value(outcome)
        page.locator("select[name=purpose]").select_option("demo")
        page.get_by_role("button", name="Save visit").click()
        expect(page).to_have_url(re.compile(r"/home\?queued=1$"))

        page.goto(f"/reports/daily/{today}")
        summary = page.get_by_label("Work summary")
        expect(summary).to_have_value(re.compile(re.escape(f"- {new_customer} (Demo): {outcome}")))
        page.get_by_role("button", name="Submit", exact=True).click()
        expect(page).to_have_url(re.compile(r"/reports\?queued=1$"))

        context.set_offline(False)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        _outbox_empty(page)
        rep = _rep_id(reps, username)
        assert _query(reps, "SELECT c.name, v.outcome FROM visit v JOIN customer c ON c.id = v.customer "
                            "WHERE v.rep = ?", rep) == [(new_customer, outcome)]
        [(summary_text,)] = _query(reps, "SELECT summary FROM report WHERE rep = ?", rep)
        assert f"- {new_customer} (Demo): {outcome}" in summary_text
    finally:
        context.close()


# --- signing out offline ----------------------------------------------------------------------------

def test_signing_out_offline_asks_first_and_keeps_the_offline_copy(browser, live_server, reps):
    username, _name = SIGNOUT_REP
    customer = CUSTOMER_OF[username]
    context = _phone(browser, live_server)
    asked: list[str] = []
    try:
        page = context.new_page()
        _sign_in(page, username)
        page.goto("/home")
        _wait_cached(page, ["/home", "/visits/new"])
        context.set_offline(True)
        _log_visit(page, "en", customer, "Logged just before signing out.")
        pages_before = _cached_paths(page)

        # Dismissed: nothing happens.
        with page.expect_event("dialog") as asking:
            # (Not waiting for a navigation the click might start: the question holds the page meanwhile.)
            page.get_by_role("button", name="Sign out").click(no_wait_after=True)
        asked.append(asking.value.message)
        asking.value.dismiss()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        expect(page.locator("#signout-failed")).to_be_hidden()

        # Accepted, offline: the sign-out cannot reach the server, so nothing is deleted, and it says so.
        with page.expect_event("dialog") as asking:
            # (Not waiting for a navigation the click might start: the question holds the page meanwhile.)
            page.get_by_role("button", name="Sign out").click(no_wait_after=True)
        asked.append(asking.value.message)
        asking.value.accept()
        expect(page.locator("#signout-failed")).to_be_visible()
        assert len(asked) == 2
        for message in asked:
            assert "1 change has not synced yet." in message and "You are offline." in message, message
        assert sorted(_cached_paths(page)) == sorted(pages_before)
        assert len(page.evaluate("window.fieldpaceOutbox.items()")) == 1
        assert page.evaluate("window.fieldpaceOutbox.localRecords('customer')")
        page.goto("/home")  # still signed in on the phone, its pages still there
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()

        # Online, once synced: the sign-out reaches the server, and only then is the offline copy cleared.
        context.set_offline(False)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        _outbox_empty(page)
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        _poll(page, "async () => (await caches.keys()).every((n) => !n.startsWith('fieldpace-pages'))")
        rep = _rep_id(reps, username)
        assert _query(reps, "SELECT count(*) FROM user_session WHERE \"user\" = ? AND revoked_at IS NULL", rep) == [(0,)]
    finally:
        context.close()
