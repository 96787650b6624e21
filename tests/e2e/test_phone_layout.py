"""Phones fit the page: at 360 px no page of any role scrolls sideways, in Chinese and in English, and every
tap target on a rep's pages is at least 44 x 44 px.

The pages are the app's own GET routes (its route table, not a list kept here), on a demo company
(`fieldpace demo-data`, and the alert job for an inbox): each path parameter is filled with a real id of
that data (`FILL`: a new parameter without a way to find one fails the test by name), and every link with
a query string seen on the way (`/dashboard/explain?...`, `/visits/new?customer=...`) is opened too.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError

from server.testing import ServerProcess, server_env
from tests.e2e.conftest import _run

pytestmark = pytest.mark.e2e

PHONE_360 = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True,
             "device_scale_factor": 1}
DEMO_PASSWORD = "fieldpace-demo"
ROLES = {"rep": "rep1", "manager": "manager1", "admin": "admin"}
LANGUAGES = {"zh-CN": "登录", "en-US": "Sign in"}
MIN_TAP = 44
# Not pages: files, JSON, the API and its document.
NOT_PAGES = ("/api/", "/static/", "/icons/", "/schema", "/sw.js", "/manifest.webmanifest", "/healthz", "/favicon.ico")

# Each path parameter -> SQL giving real values for the signed-in user (`:me`, their username): rep1's records,
# which their manager (manager1) and admin see as well.
_REP1 = "(SELECT id FROM app_user WHERE username = 'rep1')"

FILL = {
    "customer_id": f"SELECT id FROM customer WHERE owner = {_REP1} ORDER BY name LIMIT 1",
    "visit_id": f"SELECT id FROM visit WHERE rep = {_REP1} ORDER BY checkin_at DESC LIMIT 1",
    "report_id": f"SELECT id FROM report WHERE rep = {_REP1} ORDER BY period_start DESC LIMIT 1",
    "opportunity_id": f"SELECT id FROM opportunity WHERE owner = {_REP1} ORDER BY created_at LIMIT 1",
    "order_id": f"SELECT sales_order FROM order_split WHERE rep = {_REP1} ORDER BY order_date DESC LIMIT 1",
    "user_id": f"SELECT {_REP1}",
    "batch_id": "SELECT id FROM import_batch ORDER BY created_at DESC LIMIT 1",
    "kpi_id": "SELECT id FROM kpi ORDER BY position LIMIT 1",
    "plan_id": "SELECT id FROM target_plan ORDER BY year DESC LIMIT 1",
    # Their own notification if they have one, else someone else's (a 404 page, still a page).
    "notification_id": "SELECT id FROM notification ORDER BY recipient = (SELECT id FROM app_user WHERE username = :me) "
                       "DESC, created_at DESC LIMIT 1",
    "collection_id": "SELECT COALESCE((SELECT id FROM collection LIMIT 1), '00000000-0000-4000-8000-000000000000')",
    "cycle_id": "SELECT COALESCE((SELECT id FROM evaluation_cycle ORDER BY opened_at DESC LIMIT 1), '00000000-0000-4000-8000-000000000000')",
    "assignment_id": "SELECT COALESCE((SELECT id FROM rater_assignment ORDER BY rater = (SELECT id FROM app_user WHERE username = :me) DESC LIMIT 1), '00000000-0000-4000-8000-000000000000')",
    "score_id": "SELECT COALESCE((SELECT id FROM evaluation_score ORDER BY rep = (SELECT id FROM app_user WHERE username = :me) DESC LIMIT 1), '00000000-0000-4000-8000-000000000000')",
    "template_id": "SELECT COALESCE((SELECT id FROM scorecard_template LIMIT 1), '00000000-0000-4000-8000-000000000000')",
    # The demo has no photos: an unknown id (its 404 page is still a page).
    "photo_id": "SELECT '00000000-0000-4000-8000-000000000000'",
    "kind": "SELECT 'daily' UNION SELECT 'weekly'",
    "day": "SELECT date('now', 'localtime')",
    "filename": "SELECT 'customers.csv'",
}

OVERFLOW_JS = "() => [document.documentElement.scrollWidth, window.innerWidth]"
# Every a, button, radio and checkbox (by its label, which is what a thumb taps), summary and select that is
# shown; the size of each one smaller than 44 x 44 px, with what it says.
TAP_TARGETS_JS = """(min) => {
  const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const small = [];
  for (const el of document.querySelectorAll('a[href], button, input[type=radio], input[type=checkbox], summary, select')) {
    let target = el;
    if (el.matches('input')) {
      target = el.closest('label') || (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) || el;
    }
    if (!shown(target) || target.closest('[hidden], [inert]')) continue;
    const closed = target.closest('details:not([open])');
    if (closed && !target.matches('summary') && !closed.querySelector(':scope > summary').contains(target)) continue;
    const r = target.getBoundingClientRect();
    if (r.width < min - 0.5 || r.height < min - 0.5) {
      const text = (target.innerText || target.getAttribute('aria-label') || target.outerHTML).trim().slice(0, 40);
      small.push(`${target.tagName.toLowerCase()} "${text}" ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
  }
  return small;
}"""


# What no command makes: an import batch (the admin's preview of the customers example file) and a
# notification for each of the three users (the alert rules may find nothing to say on the demo's day).
SEED = """
import asyncio, json, os, sys, traceback
from datetime import datetime, timezone
from uuid import uuid4
from server import db
from server.accounts.permissions import load_actor
from server.accounts.tables import User
from server.imports import columns, services
from server.notifications.tables import Notification
from server.settings import Settings

async def main():
    db.bind(db.make_engine(Settings.from_env().effective_database_url))
    admin = (await User.select(User.id).where(User.username == "admin").first())["id"]
    actor = await load_actor(str(admin))
    await services.preview(actor, "customers", "customers.csv", columns.example_csv("customers", chinese=True))
    params = {"kpi": "revenue", "builtin": True, "status": "behind", "unit": "money", "actual": 123456.5,
              "expected": 234567.0, "target": 500000.0, "elapsed": 0.47, "index": 0.53}
    for name in ("rep1", "manager1", "admin"):
        user = (await User.select(User.id).where(User.username == name).first())["id"]
        await Notification.insert(Notification(id=uuid4(), recipient=user, kind="lagging", rule="lagging",
                                               dedup_key=f"layout|{name}", params=json.dumps(params), url="/dashboard",
                                               created_at=datetime.now(timezone.utc)))

# An error exits at once with its traceback (a database thread left behind would keep the interpreter up).
try:
    asyncio.run(main())
except BaseException:
    traceback.print_exc()
    sys.stderr.flush()
    os._exit(1)
os._exit(0)
"""


# The bottom tab bar: it does not scroll, each tab lies inside the screen and shows its whole label.
TABBAR_JS = """() => {
  const bar = document.querySelector('nav.tabbar');
  if (!bar) return [];
  const wrong = [];
  if (bar.scrollWidth > bar.clientWidth) wrong.push(`the bar is ${bar.scrollWidth} px wide in ${bar.clientWidth}`);
  for (const tab of bar.querySelectorAll(':scope > a, :scope > details > summary')) {
    const r = tab.getBoundingClientRect();
    if (r.left < 0 || r.right > window.innerWidth + 0.5) wrong.push(`"${tab.innerText}" lies outside the screen`);
    if (tab.scrollWidth > tab.clientWidth || tab.scrollHeight > tab.clientHeight) wrong.push(`"${tab.innerText}" is cut off`);
  }
  return wrong;
}"""


@pytest.fixture(scope="module")
def demo_server(chromium_path, tmp_path_factory):
    """The real app on a small demo company, with an import batch and the alert job's notifications."""
    data = tmp_path_factory.mktemp("phone-layout")
    db_file = data / "demo.sqlite3"
    env = server_env(f"sqlite:///{db_file}", data, default_locale="en", timezone="Asia/Shanghai")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    _run(["-m", "server.cli", "migrate"], env, timeout=120)
    _run(["-m", "server.cli", "demo-data", "--reps", "4", "--days", "45", "--customers", "12"], env, timeout=300)
    _run(["-m", "server.cli", "jobs", "run", "alerts.evaluate"], env, timeout=120)
    _run(["-c", SEED], env, timeout=120)
    with ServerProcess(env, data / "uvicorn.log") as server:
        yield server.base_url, db_file


def _page_routes() -> list[str]:
    """The app's GET routes that answer pages, from its route table."""
    from litestar.routes import HTTPRoute

    from server.app import create_app
    from server.settings import Settings

    app = create_app(Settings.from_env())
    paths = {r.path for r in app.routes if isinstance(r, HTTPRoute) and "GET" in r.methods}
    return sorted(p for p in paths if not p.startswith(NOT_PAGES) and p not in NOT_PAGES)


def _pattern(route: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\{(\w+):\w+\}", r"(?P<\1>[^/]+)", route) + "$")


def _urls(route: str, db_file: Path, username: str) -> list[str]:
    """`route` with each parameter filled by real values (every combination of them)."""
    names = re.findall(r"\{(\w+):\w+\}", route)
    urls = [route]
    with sqlite3.connect(db_file) as conn:
        for name in names:
            assert name in FILL, f"{route}: no way to find a real value for {{{name}}}: add it to FILL"
            values = [str(row[0]) for row in conn.execute(FILL[name], {"me": username})]
            assert values, f"{route}: the demo data has no value for {{{name}}} ({FILL[name]})"
            urls = [re.sub(r"\{" + name + r":\w+\}", v, u, count=1) for u in urls for v in values]
    return urls


def _sign_in(page, username: str, language: str) -> None:
    page.goto("/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.get_by_role("button", name=LANGUAGES[language]).click()
    page.wait_for_url(lambda url: "/login" not in url)


def _links(page) -> list[str]:
    return page.eval_on_selector_all("a[href], [hx-get]", "els => els.map(e => e.getAttribute('href') || e.getAttribute('hx-get'))")


def walk(page, base: str, db_file: Path, username: str, screenshots: Path | None = None) -> dict[str, dict]:
    """Open every page of the route table as the signed-in user; per URL its status, width and small targets."""
    routes = _page_routes()
    seen: dict[str, dict] = {}
    harvested: list[str] = []

    def visit(url: str) -> None:
        if url in seen:
            return
        try:
            response = page.goto(url)
        except PlaywrightError as e:
            if "Download is starting" not in str(e):
                raise
            seen[url] = {"status": 200, "html": False, "final": url}  # a file (CSV), not a page
            return
        status = response.status if response else 0
        kind = (response.headers.get("content-type", "") if response else "")
        # A fragment (htmx swaps it into a page; opened alone it has no stylesheet) is measured in its page.
        html = kind.startswith("text/html") and page.locator("link[rel=stylesheet]").count() > 0
        result = {"status": status, "html": html, "final": page.url}
        if html:
            result["tabbar"] = page.evaluate(TABBAR_JS)
            result["width"], result["viewport"] = page.evaluate(OVERFLOW_JS)
            result["small"] = page.evaluate(TAP_TARGETS_JS, MIN_TAP)
            harvested.extend(h for h in _links(page) if h and h.startswith("/"))
            if screenshots is not None:
                name = re.sub(r"[^\w]+", "_", url).strip("_") or "root"
                page.screenshot(path=str(screenshots / f"{name[:90]}.png"), full_page=True)
        seen[url] = result

    for route in routes:  # pages without parameters first: their links carry the query strings
        if "{" not in route:
            visit(route)
    for route in routes:
        if "{" in route:
            for url in _urls(route, db_file, username):
                visit(url)
    for route in routes:  # a link with a query string, once per route (the page as the app links to it)
        pattern = _pattern(route)
        linked = next((h for h in harvested if "?" in h and pattern.match(urlsplit(h).path)), None)
        if linked:
            visit(linked)
    return seen


@pytest.mark.parametrize("language", list(LANGUAGES))
@pytest.mark.parametrize("role", list(ROLES))
def test_no_page_scrolls_sideways_at_360_px(browser, demo_server, role, language, screenshot_dir):
    base, db_file = demo_server
    context = browser.new_context(base_url=base, locale=language, timezone_id="Asia/Shanghai", **PHONE_360)
    try:
        page = context.new_page()
        _sign_in(page, ROLES[role], language)
        shots = screenshot_dir / f"{role}-{language}"
        shots.mkdir(exist_ok=True)
        seen = walk(page, base, db_file, ROLES[role], shots)
    finally:
        context.close()
    pages = {url: r for url, r in seen.items() if r["html"]}
    assert len([r for r in pages.values() if r["status"] == 200]) >= 10, sorted(seen)
    errors = [f"{url}: {r['status']}" for url, r in pages.items() if r["status"] >= 500]
    assert not errors, errors
    wide = [f"{url} is {r['width']} px wide (viewport {r['viewport']})" for url, r in pages.items()
            if r["width"] > r["viewport"]]
    wide += [f"{url}: tab bar: {problem}" for url, r in pages.items() for problem in r["tabbar"]]
    assert not wide, f"{len(wide)} page(s) scroll sideways as {role} in {language} (screenshots in {shots}):\n" + "\n".join(wide)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_tap_target_on_rep_pages_is_44_px(browser, demo_server, language, screenshot_dir):
    base, db_file = demo_server
    context = browser.new_context(base_url=base, locale=language, timezone_id="Asia/Shanghai", **PHONE_360)
    try:
        page = context.new_page()
        _sign_in(page, ROLES["rep"], language)
        seen = walk(page, base, db_file, ROLES["rep"])
    finally:
        context.close()
    # The rep's pages: those the rep may open (another role's page answers 403).
    pages = {url: r for url, r in seen.items() if r["html"] and r["status"] == 200}
    assert {"/home", "/visits/new", "/customers", "/reports", "/sales", "/settings"} <= set(pages), sorted(pages)
    small = [f"{url}: {target}" for url, r in pages.items() for target in r["small"]]
    assert not small, f"{len(small)} tap target(s) under {MIN_TAP} px on rep pages in {language}:\n" + "\n".join(small)


def test_fill_knows_every_parameter_of_the_route_table():
    """Cheap and first to fail: a new route's parameter needs a way to a real value."""
    names = {n for route in _page_routes() for n in re.findall(r"\{(\w+):\w+\}", route)}
    assert names <= FILL.keys(), sorted(names - FILL.keys())


# Chromium offers the install with a `beforeinstallprompt` event (headless never fires one on its own):
# the page gets one with a prompt() that records it was called.
OFFER_INSTALL = """() => {
  const offer = new Event('beforeinstallprompt', {cancelable: true});
  offer.prompt = () => { window.promptedInstall = true; return Promise.resolve(); };
  offer.userChoice = Promise.resolve({outcome: 'dismissed'});
  window.dispatchEvent(offer);
}"""


def test_the_install_offer_never_covers_the_page_and_stays_dismissed(browser, demo_server):
    base, _db = demo_server
    context = browser.new_context(base_url=base, locale="zh-CN", timezone_id="Asia/Shanghai", **PHONE_360)
    try:
        page = context.new_page()
        _sign_in(page, ROLES["rep"], "zh-CN")
        page.goto("/home")
        banner = page.locator("#install-banner")
        page.evaluate("""() => { window.shifted = 0; new PerformanceObserver((list) => {
          for (const e of list.getEntries()) window.shifted += e.value; }).observe({type: 'layout-shift'}); }""")
        page.evaluate(OFFER_INSTALL)
        banner.wait_for(state="visible")
        page.wait_for_timeout(300)
        assert page.evaluate("window.shifted") == 0, "the install offer moved the page (a layout shift)"
        # Docked above the tab bar: it moves nothing on the page (no layout shift once the page has drawn),
        # and the page's end, scrolled to, lies above it (never under it).
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        placed = page.evaluate("""() => {
          const b = document.getElementById('install-banner').getBoundingClientRect();
          const bar = document.querySelector('nav.tabbar').getBoundingClientRect();
          const last = [...document.getElementById('main').children].filter(e => e.getClientRects().length).pop().getBoundingClientRect();
          return {position: getComputedStyle(document.getElementById('install-banner')).position,
                  bannerTop: b.top, bannerBottom: b.bottom, barTop: bar.top, lastBottom: last.bottom};
        }""")
        assert placed["position"] == "fixed", placed
        assert abs(placed["bannerBottom"] - placed["barTop"]) <= 1, placed
        assert placed["lastBottom"] <= placed["bannerTop"] + 0.5, placed
        page.get_by_role("button", name="安装应用").click()
        assert page.evaluate("window.promptedInstall === true")
        page.evaluate(OFFER_INSTALL)
        banner.wait_for(state="visible")
        page.locator("#install-dismiss").click()
        banner.wait_for(state="hidden")
        # Remembered: on the next page and after a reload, a new offer shows nothing.
        page.goto("/customers")
        page.evaluate(OFFER_INSTALL)
        page.wait_for_function("document.readyState === 'complete'")
        assert banner.is_hidden()
    finally:
        context.close()
