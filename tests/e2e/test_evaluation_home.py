"""The rep's way into evaluation on a 360 px phone, in real Chromium: a cycle asks the rep for their self
rating, the card on their home says so and leads to the form; "My evaluation" is under the tab bar's
"More". On a team of its own, so no other browser test's home gains a card."""

from __future__ import annotations

import re
from datetime import timedelta

from server import clock
from server.targets import formulas
from tests.e2e.conftest import PASSWORD, PHONE, TABLET, _run, sign_in

TEAM = "Hangzhou Evaluation"
REP = {"username": "chenjing_home", "name": "陈静"}
MANAGER = {"username": "mgr_home", "name": "Home Manager"}

SEED = f"""
import asyncio, os, sys
from uuid import uuid4
from server import cli, db
from server.accounts.tables import Team, TeamManager, User
from server.settings import Settings
from tests import factories

db.bind(db.make_engine(Settings.from_env().effective_database_url))
asyncio.run(factories.team({TEAM!r}))
for args in (["create-user", {REP['username']!r}, "--name", {REP['name']!r}, "--role", "rep", "--team", {TEAM!r}],
             ["create-user", {MANAGER['username']!r}, "--name", {MANAGER['name']!r}, "--role", "manager"]):
    assert cli.main([*args, "--password", {PASSWORD!r}]) == 0, args

async def lead():
    db.bind(db.make_engine(Settings.from_env().effective_database_url))
    team = (await Team.select(Team.id).where(Team.name == {TEAM!r}).first())["id"]
    manager = (await User.select(User.id).where(User.username == {MANAGER['username']!r}).first())["id"]
    await TeamManager.insert(TeamManager(id=uuid4(), team=team, manager=manager))

asyncio.run(lead())
sys.stdout.flush()
os._exit(0)
"""


def _last_month() -> str:
    day = clock.today().replace(day=1) - timedelta(days=1)
    return formulas.month_code(day.year, day.month)


def test_a_rep_with_a_due_self_rating_reaches_the_form_from_the_home_card(new_context, live_env):
    from playwright.sync_api import expect

    _run(["-c", SEED], live_env)
    period = _last_month()

    # The manager opens the cycle on a tablet and starts the rating.
    manager = new_context(**TABLET).new_page()
    sign_in(manager, MANAGER["username"])
    manager.goto("/evaluation/cycles/new")
    manager.locator("#f-team").select_option(label=TEAM)
    manager.get_by_label("Period").fill(period)
    manager.get_by_role("button", name="Open the cycle").click()
    expect(manager).to_have_url(re.compile(r"/evaluation/cycles/[0-9a-f-]{36}$"))
    expect(manager.locator(".rep-template")).to_contain_text("Field sales rep scorecard")
    manager.get_by_role("button", name="Start rating").click()
    expect(manager.locator(".cycle-state")).to_have_text("Rating")

    # The rep, on a phone: the home's card asks for the self rating; nothing is wider than the screen.
    phone = new_context(**PHONE).new_page()
    sign_in(phone, REP["username"])
    phone.goto("/home")
    card = phone.locator("section.home-evaluation")
    expect(card).to_be_visible()
    link = card.get_by_role("link", name=f"Rate yourself for {period}")
    expect(link).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    box = link.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360 and box["height"] >= 40
    link.click()
    expect(phone).to_have_url(re.compile(r"/evaluation/forms/[0-9a-f-]{36}$"))
    expect(phone.get_by_role("heading", name=f"Rate yourself · {period}")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    for group in sorted(set(phone.locator("input[type=radio]").evaluate_all("els => els.map(e => e.name)"))):
        phone.locator(f"input[name='{group}'][value='3']").check()
    phone.get_by_role("button", name="Submit").click()
    expect(phone.locator(".flash-success")).to_contain_text("Ratings submitted")

    # Done: the card is gone; "My evaluation" is one tap under "More" in the tab bar.
    phone.goto("/home")
    expect(phone.locator("section.home-evaluation")).to_have_count(0)
    tabs = phone.get_by_role("navigation", name="Main")
    tabs.locator("details.tab-more > summary").click()
    tabs.get_by_role("link", name="My evaluation").click()
    expect(phone.get_by_role("heading", name="My evaluation", exact=True)).to_be_visible()
    expect(phone.locator("nav.tabbar details.tab-more")).to_have_class(re.compile(r"\bcurrent\b"))
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
