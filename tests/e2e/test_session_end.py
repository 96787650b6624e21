"""A session that ends without the sign-out button leaves nothing readable behind on the browser: the
service worker drops the user's cached pages and pulled records at the next navigation."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.e2e.conftest import CUSTOMER, MANAGER, PHONE, sign_in

pytestmark = pytest.mark.e2e
LONG_MS = 30_000


def _poll(page, predicate: str, timeout_ms: int = LONG_MS) -> bool:
    """Poll an async predicate in the page (the app's CSP forbids eval, so no wait_for_function)."""
    return page.evaluate("""async (timeout) => {
        const predicate = PREDICATE;
        const deadline = Date.now() + timeout;
        while (Date.now() < deadline) {
            try { if (await predicate()) return true; } catch (e) { /* not ready yet */ }
            await new Promise((resolve) => setTimeout(resolve, 200));
        }
        return false;
    }""".replace("PREDICATE", predicate), timeout_ms)


PAGE_CACHES = "async () => (await caches.keys()).filter((n) => n.startsWith('fieldpace-pages'))"


def test_pages_cached_by_a_manager_are_gone_once_the_session_is(new_context, live_env):
    from playwright.sync_api import expect

    context = new_context(**PHONE)
    page = context.new_page()
    sign_in(page, MANAGER["username"])
    assert _poll(page, "async () => navigator.serviceWorker.controller !== null")
    user = page.evaluate("document.body.dataset.user")
    page.goto("/customers")
    page.get_by_role("link", name=CUSTOMER).first.click()
    expect(page.get_by_role("heading", name=CUSTOMER)).to_be_visible()
    customer_url = page.url
    assert _poll(page, """async () => {
        const cache = await caches.open("fieldpace-pages-" + document.body.dataset.user);
        return !!(await cache.match(location.href));
    }"""), "the customer page was not cached under the manager"
    assert page.evaluate(PAGE_CACHES) == [f"fieldpace-pages-{user}"]

    # Offline, the cached page reads (so the check below can fail).
    context.set_offline(True)
    page.goto(customer_url)
    expect(page.get_by_role("heading", name=CUSTOMER)).to_be_visible()
    context.set_offline(False)

    # The session ends on the server (expired, revoked elsewhere): no button pressed on this browser.
    db = Path(live_env["FIELDPACE_DATA_DIR"]) / "e2e.sqlite3"
    with sqlite3.connect(db) as conn:
        ended = conn.execute('DELETE FROM user_session WHERE "user" = (SELECT id FROM app_user WHERE username = ?)',
                             (MANAGER["username"],)).rowcount
    assert ended >= 1

    page.goto("/customers")  # the next navigation finds the session gone
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert _poll(page, f"async () => ({PAGE_CACHES})().then((names) => names.length === 0)"), \
        page.evaluate(PAGE_CACHES)

    # The next person on this browser, offline: the manager's pages are not there.
    context.set_offline(True)
    page.goto(customer_url)
    expect(page.get_by_role("heading", name=CUSTOMER)).to_have_count(0)
    assert CUSTOMER not in page.content()
    page.goto("/customers")
    assert CUSTOMER not in page.content()
    context.set_offline(False)
    # The records pulled for offline search are gone too.
    left = page.evaluate("""async () => {
        const db = await new Promise((ok, ko) => {
            const r = indexedDB.open("fieldpace"); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error);
        });
        try {
            if (!db.objectStoreNames.contains("records")) return 0;
            return await new Promise((ok, ko) => {
                const r = db.transaction("records").objectStore("records").count();
                r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error);
            });
        } finally { db.close(); }
    }""")
    assert left == 0
