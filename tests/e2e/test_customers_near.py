"""'Customers near me' in a real headless Chromium at 360 px, in English and Chinese: the rep's customers
sorted by distance from the phone's position, offline (from the customers the outbox keeps on the phone),
with every tap target at least 44 px and no horizontal overflow."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PASSWORD, PHONE, TEAM, _run

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium_path fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = pytest.mark.e2e

NEAR_REPS = {"en": "weilan", "zh_CN": "weilan_zh"}  # the second reads the app in Chinese (their setting)
HERE = {"latitude": 31.2304, "longitude": 121.4737}  # People's Square, Shanghai
# name, latitude, longitude: about 1.1 km, 330 m and 11 km from HERE; one without a location.
PLACES = [("Riverside Bakery", 31.2404, 121.4737), ("Corner Print Shop", 31.2334, 121.4737),
          ("Far East Tools", 31.3304, 121.4737), ("No Place Yet Ltd", None, None)]
LONG_MS = 30_000


@pytest.fixture(scope="module")
def near_rep(live_server, live_env):
    snippet = f"""
import asyncio, os, sys
from server import cli, db
from server.accounts.tables import User
from server.customers.tables import Customer
from server.settings import Settings
from tests import factories

def bind():
    db.bind(db.make_engine(Settings.from_env().effective_database_url))

bind()
for username in {list(NEAR_REPS.values())!r}:
    args = ["create-user", username, "--name", "Wei Lan", "--role", "rep", "--team", {TEAM!r}]
    assert cli.main([*args, "--password", factories.PASSWORD]) == 0, args

async def customers():
    bind()
    for locale, username in {NEAR_REPS!r}.items():
        rep = (await User.select(User.id).where(User.username == username).first())["id"]
        await User.update({{User.locale: "" if locale == "en" else locale}}).where(User.id == rep)
        for name, lat, lng in {PLACES!r}:
            cid = await factories.customer(rep, name)
            await Customer.update({{Customer.latitude: lat, Customer.longitude: lng}}).where(Customer.id == cid)

asyncio.run(customers())
sys.stdout.flush()
os._exit(0)
"""
    _run(["-c", snippet], live_env)
    return NEAR_REPS


def _poll(page, predicate: str, arg=None, timeout_ms: int = LONG_MS) -> None:
    ok = page.evaluate("""async ([arg, timeout]) => {
        const predicate = PREDICATE;
        const deadline = Date.now() + timeout;
        while (Date.now() < deadline) {
            try { if (await predicate(arg)) return true; } catch (e) { /* not ready yet */ }
            await new Promise((resolve) => setTimeout(resolve, 200));
        }
        return false;
    }""".replace("PREDICATE", predicate), [arg, timeout_ms])
    assert ok, f"not reached within {timeout_ms} ms: {predicate}"


@pytest.mark.parametrize(("locale", "button", "unit"), [("en", "Find customers near me", " m"),
                                                        ("zh_CN", "查找附近的客户", "米")])
def test_customers_near_me_offline_nearest_first(browser, live_server, near_rep, locale, button, unit):
    from tests.e2e.conftest import TIMEOUT_MS

    context = browser.new_context(base_url=live_server, locale="en-US", timezone_id="Asia/Shanghai",
                                  geolocation=HERE, permissions=["geolocation"], **PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        # (The shared sign_in waits for the English "Sign out"; this rep may read Chinese after signing in.)
        page.goto("/login")
        page.locator("input[name=username]").fill(near_rep[locale])
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("form button[type=submit]").click()
        page.wait_for_url("**/home")
        page.goto("/customers")
        # Online once: the service worker stores the page, the pull puts the customers on the phone.
        _poll(page, "async () => navigator.serviceWorker.controller !== null")
        _poll(page, """async () => {
            const cache = await caches.open("fieldpace-pages-" + document.body.dataset.user);
            return (await cache.keys()).some((r) => new URL(r.url).pathname === "/customers/near");
        }""")
        _poll(page, """async () => (await window.fieldpaceOutbox.localRecords("customer")).length >= 4""")

        context.set_offline(True)
        page.goto("/customers/near")
        page.get_by_role("button", name=button).click()
        items = page.locator("[data-results] > li")
        expect(items).to_have_count(3)  # the customer without a location is not listed
        names = items.locator("strong").all_inner_texts()
        assert names == ["Corner Print Shop", "Riverside Bakery", "Far East Tools"]
        distances = [int(d) for d in items.locator("[data-distance]").evaluate_all(
            "els => els.map((e) => e.dataset.distance)")]
        assert 300 < distances[0] < 360 and 1050 < distances[1] < 1170 and 10_500 < distances[2] < 11_700
        assert unit in items.first.inner_text()

        # 360 px: nothing wider than the screen, every tap target at least 44 px tall and wide.
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        small = page.evaluate("""() => [...document.querySelectorAll('main a, main button')]
            .filter((e) => e.offsetParent !== null)
            .map((e) => [e.textContent.trim(), e.getBoundingClientRect()])
            .filter(([, r]) => r.height < 44 || r.width < 44).map(([t, r]) => `${t}: ${r.width}x${r.height}`)""")
        assert small == []
    finally:
        context.set_offline(False)
        context.close()
