"""Evaluation end to end in real Chromium: the manager opens a cycle and rates a rep on a tablet, two peers
and the rep rate on phones, the job closes the cycle, the manager publishes, and the rep opens the
scorecard on a phone, opens an item to its numbers, acknowledges, and downloads the PDF."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from server import clock
from server.targets import formulas
from tests.e2e.conftest import MANAGER, PASSWORD, PHONE, TABLET, TEAM, _run, sign_in

RATEE = {"username": "wangfang_eval", "name": "王芳"}
PEERS = [{"username": "peer_zhou", "name": "Zhou Peer"}, {"username": "peer_sun", "name": "Sun Peer"}]


def _period_two_months_back() -> str:
    day = clock.today().replace(day=1) - timedelta(days=1)
    day = day.replace(day=1) - timedelta(days=1)
    return formulas.month_code(day.year, day.month)


def _rate_all(page, level: int, comment: str = "") -> None:
    for group in sorted(set(page.locator("input[type=radio]").evaluate_all("els => els.map(e => e.name)"))):
        page.locator(f"input[name='{group}'][value='{level}']").check()
        if comment:
            page.locator(f"textarea[name='comment_{group[6:]}']").fill(comment)
    page.get_by_role("button", name="Submit").click()


def test_cycle_rated_on_tablet_and_phones_closed_by_the_job_and_acknowledged(new_context, live_env):
    from playwright.sync_api import expect
    from pypdf import PdfReader

    for person in (RATEE, *PEERS):
        _run(["-m", "server.cli", "create-user", person["username"], "--name", person["name"], "--role", "rep",
              "--team", TEAM, "--password", PASSWORD], live_env)
    period = _period_two_months_back()

    # The manager opens the cycle and chooses the rep's peers on a tablet.
    manager = new_context(**TABLET).new_page()
    sign_in(manager, MANAGER["username"])
    manager.goto("/evaluation/cycles/new")
    manager.locator("#f-team").select_option(label=TEAM)
    manager.get_by_label("Period").fill(period)
    manager.get_by_role("button", name="Open the cycle").click()
    expect(manager).to_have_url(re.compile(r"/evaluation/cycles/[0-9a-f-]{36}$"))
    cycle_url = manager.url
    block = manager.locator("form.peers-form", has=manager.get_by_role("group", name=f"Peers for {RATEE['name']}"))
    for peer in PEERS:
        block.get_by_label(peer["name"]).check()
    block.get_by_role("button", name="Save peers").click()
    expect(manager.locator(".flash-success")).to_contain_text("Peers saved")
    manager.get_by_role("button", name="Start rating").click()
    expect(manager.locator(".cycle-state")).to_have_text("Rating")

    # The manager rates the rep, data items beside the form; a 5 needs a comment.
    manager.goto("/evaluation")
    manager.get_by_role("link", name=f"Rate {RATEE['name']}").click()
    expect(manager.locator(".data-items")).to_be_visible()
    _rate_all(manager, 5)
    expect(manager.locator(".field-error").first).to_contain_text("either end of the scale")
    _rate_all(manager, 5, "客户投诉当天处理,团队都认可")
    expect(manager.locator(".flash-success")).to_contain_text("Ratings submitted")

    # Two peers and the rep rate on phones.
    for peer in PEERS:
        phone = new_context(**PHONE).new_page()
        sign_in(phone, peer["username"])
        phone.goto("/evaluation")
        phone.get_by_role("link", name=f"Rate a colleague: {RATEE['name']}").click()
        _rate_all(phone, 4)
        expect(phone.locator(".flash-success")).to_contain_text("Ratings submitted")
    rep = new_context(**PHONE).new_page()
    sign_in(rep, RATEE["username"])
    rep.goto("/evaluation")
    rep.get_by_role("link", name="Rate yourself").click()
    _rate_all(rep, 4)
    expect(rep.locator(".flash-success")).to_contain_text("Ratings submitted")

    # The job closes the cycle (its rating was due days ago); the manager publishes.
    out = _run(["-m", "server.cli", "jobs", "run", "evaluation.scores"], live_env)
    assert re.search(r"\"closed\": [1-9]", out), out
    manager.goto(cycle_url)
    expect(manager.locator(".cycle-state")).to_have_text("Calibration")
    manager.get_by_role("button", name="Publish to the reps").click()
    expect(manager.locator(".cycle-state")).to_have_text("Published")

    # The rep opens the scorecard, an item to its numbers, acknowledges, and downloads the PDF.
    rep.goto("/evaluation")
    rep.get_by_role("link", name=re.compile(re.escape(period))).click()
    expect(rep.locator(".score-total")).to_be_visible()
    item = rep.locator("details.item").first
    item.locator("summary").click()
    expect(item.locator("dl.explain")).to_be_visible()
    expect(item.locator("dl.explain")).to_contain_text("Source")
    assert rep.evaluate("document.documentElement.scrollWidth") <= 360
    rep.get_by_label("Reply (optional)").fill("谢谢,下月继续努力")
    rep.get_by_role("button", name="Acknowledge").click()
    expect(rep.locator(".flash-success")).to_contain_text("Acknowledged")
    with rep.expect_download() as download:
        rep.get_by_role("link", name="Download the PDF report").click()
    with open(download.value.path(), "rb") as f:
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(f.read())).pages)
    assert RATEE["name"] in text and "客户投诉当天处理" in text
