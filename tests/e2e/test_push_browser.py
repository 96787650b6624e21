"""Push in Debian's Chromium: a push delivered to the service worker through the DevTools protocol is
shown as a notification (grouped by tag), and its link lands on the alert's page with the inbox item read.

Headless Chromium has no notification centre to click in, so the click is the one thing played by the test:
it follows the notification's own `data.url`, which is exactly what the worker's `notificationclick`
handler opens (`/inbox/<id>/open`, marking the item read and redirecting to the page). Tests never wait on
`pushManager.subscribe` (it cannot succeed here).
"""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE, REP, _run, sign_in

pytestmark = pytest.mark.e2e

NOTIFY = """
import asyncio, os, sys
from server import db
from server.accounts.tables import User
from server.settings import Settings
from tests import factories

async def main():
    db.bind(db.make_engine(Settings.from_env().effective_database_url))
    rep = (await User.select(User.id).where(User.username == {username!r}).first())["id"]
    print(await factories.notification(rep, kind="test", url="/reports"))

asyncio.run(main())
sys.stdout.flush()
os._exit(0)
"""

NOTIFICATIONS = """async () => {
    const registration = await navigator.serviceWorker.ready;
    const shown = await registration.getNotifications();
    return shown.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data}));
}"""


def _registrations(page, cdp, origin: str) -> list[str]:
    """The ids of the service worker registrations at the app's scope that the protocol reports. Other
    browser contexts of the session (earlier tests) may report one at the same scope too: a push is
    delivered to each, and only this page's worker can answer this page's getNotifications()."""
    found: dict[str, bool] = {}

    def updated(event):
        for r in event.get("registrations", []):
            if r.get("scopeURL") == origin + "/":
                found[r["registrationId"]] = not r.get("isDeleted")

    cdp.on("ServiceWorker.workerRegistrationUpdated", updated)
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 10
    while not any(found.values()) and time.monotonic() < deadline:
        page.wait_for_timeout(100)  # lets Playwright deliver the protocol's events
    page.wait_for_timeout(300)
    live = [rid for rid, alive in found.items() if alive]
    assert live, "no service worker registration reported"
    return live


def _push(cdp, origin: str, registrations: list[str], data: str) -> None:
    delivered = 0
    for rid in registrations:
        try:
            cdp.send("ServiceWorker.deliverPushMessage", {"origin": origin, "registrationId": rid, "data": data})
            delivered += 1
        except Exception:  # noqa: BLE001 - a registration of a context closed meanwhile
            continue
    assert delivered, "no registration took the push"


def _shown(page, count: int) -> list[dict]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        shown = page.evaluate(NOTIFICATIONS)
        if len(shown) == count:
            return shown
        page.wait_for_timeout(200)
    raise AssertionError(f"expected {count} notification(s), got {page.evaluate(NOTIFICATIONS)}")


def test_a_pushed_alert_is_shown_grouped_by_tag_and_lands_on_its_page_read(new_context, live_server, live_env):
    context = new_context(**PHONE)
    context.grant_permissions(["notifications"], origin=live_server)
    page = context.new_page()
    sign_in(page, REP["username"])
    nid = _run(["-c", NOTIFY.format(username=REP["username"])], live_env).strip().splitlines()[-1]
    page.goto("/inbox")
    expect(page.locator(f'[data-notification="{nid}"]')).to_have_attribute("data-read", "false")
    expect(page.locator("#inbox-link [data-unread]")).to_be_visible()
    page.evaluate("async () => { await navigator.serviceWorker.ready; return true; }")

    cdp = context.new_cdp_session(page)
    registrations = _registrations(page, cdp, live_server)
    payload = {"id": nid, "kind": "test", "title": "Revenue: behind pace", "body": "1,200 so far", "tag": "lagging:x",
               "url": f"/inbox/{nid}/open", "page": "/reports"}
    _push(cdp, live_server, registrations, json.dumps(payload))
    (shown,) = _shown(page, 1)
    assert shown["title"] == "Revenue: behind pace" and shown["tag"] == "lagging:x"
    assert shown["data"] == {"id": nid, "url": f"/inbox/{nid}/open", "page": "/reports"}
    # A second alert under the same tag replaces the first.
    _push(cdp, live_server, registrations, json.dumps({**payload, "title": "Revenue: still behind"}))
    deadline = time.monotonic() + 10
    while page.evaluate(NOTIFICATIONS)[0]["title"] != "Revenue: still behind" and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    (shown,) = _shown(page, 1)
    assert shown["title"] == "Revenue: still behind"
    # A push with no usable payload still shows a notification (never a silent push).
    _push(cdp, live_server, registrations, "x")
    assert any(n["title"] == "Fieldpace" for n in _shown(page, 2))

    # The click: the worker opens the notification's data.url.
    response = page.goto(shown["data"]["url"])
    assert response is not None and response.ok
    assert page.url == f"{live_server}/reports"
    page.goto("/inbox")
    expect(page.locator(f'[data-notification="{nid}"]')).to_have_attribute("data-read", "true")
    # The last synced inbox stays readable offline (the service worker's copy of the page).
    assert page.evaluate("""async () => {
        const cache = await caches.open("fieldpace-pages-" + document.body.dataset.user);
        for (let i = 0; i < 50; i++) {
            const hit = await cache.match(location.origin + "/inbox");
            if (hit && (await hit.text()).includes('data-read="true"')) return true;
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
        return false;
    }""")
    context.set_offline(True)
    try:
        page.reload()
        expect(page.locator(f'[data-notification="{nid}"]')).to_have_attribute("data-read", "true")
    finally:
        context.set_offline(False)


def test_notifications_screen_asks_only_after_a_tap_and_explains_ios(new_context):
    page = new_context(**PHONE).new_page()
    sign_in(page, REP["username"])
    page.goto("/notifications")
    expect(page.locator("#push-enable")).to_be_visible()
    assert page.evaluate("Notification.permission") == "default"  # nothing was asked on load
    expect(page.locator("#ios-push-steps")).to_be_hidden()

    iphone = new_context(**PHONE, user_agent=(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1")).new_page()
    sign_in(iphone, REP["username"])
    iphone.goto("/notifications")
    expect(iphone.locator("#ios-push-steps")).to_be_visible()
    expect(iphone.locator("#ios-push-steps").get_by_text("Add to Home Screen")).to_be_visible()
    expect(iphone.locator("#push-enable")).to_be_hidden()
