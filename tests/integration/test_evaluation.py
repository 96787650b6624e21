"""Evaluation end to end over HTTP, on SQLite and PostgreSQL: a cycle from open to acknowledged, the
snapshot that a later order correction does not change, re-opening with a reason, calibration logged,
peer anonymity below and at the threshold."""

from __future__ import annotations

import io
import json
import re
from datetime import date, timedelta
from uuid import UUID

import pytest
from pypdf import PdfReader

from server import clock
from server.evaluation import jobs as evaluation_jobs
from server.evaluation.tables import CalibrationAdjustment, EvaluationAudit, EvaluationCycle, RaterAssignment, Score
from server.jobs.registry import JobContext
from server.sales import credits
from server.sales.tables import Order
from server.targets import formulas
from tests import factories

FIELD = "00000000-0000-0000-0008-000000000001"  # the ready field-rep template
PEER_NAMES = ("Peer Wang", "Peer Li", "Peer Zhao")


def last_month() -> tuple[str, date, date]:
    first = clock.today().replace(day=1)
    end = first - timedelta(days=1)
    return formulas.month_code(end.year, end.month), end.replace(day=1), end


@pytest.fixture
def team(client, world):
    """Team A with three more reps (the peers) and rep_a1's revenue target of 10,000 last month, against
    an order of 8,000."""
    period, start, end = last_month()
    run = client.run
    peers = [run(factories.user("rep", world.team_a, username=f"peer{i}", name=n)) for i, n in enumerate(PEER_NAMES)]
    plan = run(factories.plan(start.year, targets={}, status="approved"))
    run(factories.target(plan, "revenue", period, "rep", world.rep, 10_000.0))
    order = run(factories.order(world.customer, {world.rep: 10_000}, amount=8_000.0, day=start + timedelta(days=3)))
    # rep_a1 has been there all along: a visit on the period's first day.
    run(factories.visit(world.rep, world.customer, when=clock.now() - timedelta(days=(clock.today() - start).days)))
    return {"period": period, "peers": peers, "order": order, "world": world}


def open_cycle(client, team_a: UUID, period: str) -> UUID:
    client.login("mgr_a")
    r = client.post_form("/evaluation/cycles", {"team": str(team_a), "template": FIELD, "kind": "month",
                                                "period": period, "guide": "20/70/10"})
    assert r.status_code == 303, r.text[:2000]
    return UUID(r.headers["location"].rsplit("/", 1)[1])


def assignment(client, cycle: UUID, ratee: UUID, rater: UUID, role: str) -> UUID:
    row = client.run(RaterAssignment.select(RaterAssignment.id).where(
        (RaterAssignment.cycle == cycle) & (RaterAssignment.ratee == ratee) & (RaterAssignment.rater == rater)
        & (RaterAssignment.role == role)).first())
    return row["id"]


def form_items(client, url: str) -> list[str]:
    page = client.get(url)
    assert page.status_code == 200, page.text[:500]
    return sorted(set(re.findall(r'name="level_([0-9a-f-]{36})"', page.text)))


def answer(client, username: str, form: UUID, level: int, comment: str = "", action: str = "submit"):
    client.login(username)
    items = form_items(client, f"/evaluation/forms/{form}")
    data = {"action": action}
    for item in items:
        data[f"level_{item}"] = str(level)
        data[f"comment_{item}"] = comment
    return client.post_form(f"/evaluation/forms/{form}", data)


def run_job(client, settings):
    return client.run(evaluation_jobs.compute_scores(JobContext(slot=clock.now(), settings=settings)))


def score_of(client, cycle: UUID, rep: UUID) -> dict:
    return client.run(Score.select().where((Score.cycle == cycle) & (Score.rep == rep)).first())


def test_cycle_from_open_to_acknowledged(client, team, settings):
    w = team["world"]
    cycle = open_cycle(client, w.team_a, team["period"])
    # Peers chosen by the manager: the three colleagues for rep_a1.
    r = client.post_form(f"/evaluation/cycles/{cycle}/peers", {"rep": str(w.rep), "peer": [str(p) for p in team["peers"]]})
    assert r.status_code == 303
    # A rep of another team is not a peer.
    r = client.post_form(f"/evaluation/cycles/{cycle}/peers", {"rep": str(w.rep), "peer": [str(w.rep_b)]})
    assert r.status_code == 422
    r = client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "open"})
    assert r.status_code == 303
    # The job computes provisional scores while rating.
    assert run_job(client, settings)["provisional"] == 5
    # Manager rates rep_a1: a 5 needs a comment (422, nothing lost), then with comments.
    form = assignment(client, cycle, w.rep, w.manager, "manager")
    r = answer(client, "mgr_a", form, 5)
    assert r.status_code == 422 and "either end of the scale" in r.text
    r = answer(client, "mgr_a", form, 4, "Handled the Acme complaint the same day")
    assert r.status_code == 303
    assert answer(client, "rep_a1", assignment(client, cycle, w.rep, w.rep, "self"), 4).status_code == 303
    for i, peer in enumerate(team["peers"]):
        assert answer(client, f"peer{i}", assignment(client, cycle, w.rep, peer, "peer"), 3 + (i % 2)).status_code == 303
    # Close rating: final scores.
    client.login("mgr_a")
    assert client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "rating"}).status_code == 303
    score = score_of(client, cycle, w.rep)
    assert score["final"]
    snap = json.loads(score["snapshot"])
    revenue = next(v for v in snap["items"].values() if v.get("kpi") == "revenue")
    assert revenue["actual"] == pytest.approx(8000.0) and revenue["target_to_date"] == pytest.approx(10000.0)
    assert revenue["points"] == pytest.approx(80.0)
    peer = next(v for v in snap["items"].values() if v["source"] == "peer")
    assert peer["answers"] == 3 and peer["level"] == pytest.approx(10 / 3, abs=1e-3)
    assert snap["formula"] == "1" and snap["template_version"] == 1
    # Calibrate: a reason is required; the adjustment is logged.
    r = client.post_form(f"/evaluation/scores/{score['id']}/adjust", {"score": "82"})
    assert r.status_code == 422
    r = client.post_form(f"/evaluation/scores/{score['id']}/adjust", {"score": "82", "reason": "Covered two territories"})
    assert r.status_code == 303
    adj = client.run(CalibrationAdjustment.select().where(CalibrationAdjustment.score == score["id"]).first())
    assert adj["after"] == 82.0 and adj["reason"] == "Covered two territories"
    calibration = client.get(f"/evaluation/cycles/{cycle}/calibration")
    assert calibration.status_code == 200 and "<svg" in calibration.text
    # Publish; the rep reads it, with the calibration's reason and the manager's comment.
    assert client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "calibration"}).status_code == 303
    client.login("rep_a1")
    page = client.get(f"/evaluation/scores/{score['id']}")
    assert page.status_code == 200
    assert "Covered two territories" in page.text and "Handled the Acme complaint the same day" in page.text
    assert "adjusted by calibration" in page.text
    # Another rep of the team does not see it.
    client.login("rep_a2")
    assert client.get(f"/evaluation/scores/{score['id']}").status_code == 404
    # Everyone acknowledges: the cycle is acknowledged.
    for username in ["rep_a1", "rep_a2", "peer0", "peer1", "peer2"]:
        client.login(username)
        mine = client.run(Score.select(Score.id).where(Score.cycle == cycle).where(
            Score.rep.username == username).first())
        assert client.post_form(f"/evaluation/scores/{mine['id']}/acknowledge", {"reply": "Thanks"}).status_code == 303
    state = client.run(EvaluationCycle.select(EvaluationCycle.state).where(EvaluationCycle.id == cycle).first())
    assert state["state"] == "acknowledged"


def test_a_later_order_correction_does_not_change_a_final_score_until_reopened(client, team, settings):
    w = team["world"]
    cycle = open_cycle(client, w.team_a, team["period"])
    client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "open"})
    client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "rating"})
    before = score_of(client, cycle, w.rep)
    # The order is corrected from 8,000 to 9,500 after the close; the nightly job runs.
    client.run(Order.update({Order.amount_cents: 950_000}).where(Order.id == team["order"]))
    client.run(credits.reallocate(team["order"]))  # the stored credited cents follow, as a correction's do
    run_job(client, settings)
    after = score_of(client, cycle, w.rep)
    assert after["snapshot"] == before["snapshot"] and after["total"] == before["total"]
    # Only admin re-opens, and only with a reason.
    client.login("mgr_a")
    assert client.post_form(f"/evaluation/scores/{before['id']}/reopen", {"reason": "Order corrected"}).status_code == 403
    client.login("boss")
    assert client.post_form(f"/evaluation/scores/{before['id']}/reopen", {"reason": ""}).status_code == 422
    assert client.post_form(f"/evaluation/scores/{before['id']}/reopen",
                            {"reason": "Order SO corrected to 9,500"}).status_code == 303
    reopened = score_of(client, cycle, w.rep)
    revenue = next(v for v in json.loads(reopened["snapshot"])["items"].values() if v.get("kpi") == "revenue")
    assert revenue["actual"] == pytest.approx(9500.0) and revenue["points"] == pytest.approx(95.0)
    log = client.run(EvaluationAudit.select().where((EvaluationAudit.score == before["id"])
                                                    & (EvaluationAudit.action == "reopened")).first())
    detail = json.loads(log["detail"])
    assert detail["reason"] == "Order SO corrected to 9,500" and detail["before"] == before["total"]
    assert detail["after"] == reopened["total"] != before["total"]


@pytest.mark.parametrize("answered", [2, 3])
def test_peer_anonymity_below_and_at_the_threshold(client, team, settings, answered):
    w = team["world"]
    cycle = open_cycle(client, w.team_a, team["period"])
    client.post_form(f"/evaluation/cycles/{cycle}/peers", {"rep": str(w.rep), "peer": [str(p) for p in team["peers"]]})
    client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "open"})
    levels = [2, 4, 3][:answered]
    for i, level in enumerate(levels):
        answer(client, f"peer{i}", assignment(client, cycle, w.rep, team["peers"][i], "peer"), level)
    client.login("mgr_a")
    client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "rating"})
    score = score_of(client, cycle, w.rep)
    peer = next(v for v in json.loads(score["snapshot"])["items"].values() if v["source"] == "peer")
    if answered < settings.evaluation_peer_min:
        assert peer["points"] is None and peer["missing"] == "too_few_peers" and peer["level"] is None
    else:
        assert peer["level"] == pytest.approx(3.0) and peer["points"] == pytest.approx(50.0)
    client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "calibration"})
    # The rep reads the aggregate only at the threshold; below it, that the item was left out and why.
    client.login("rep_a1")
    card = client.get(f"/evaluation/scores/{score['id']}").text
    if answered < settings.evaluation_peer_min:
        assert "fewer peers answered than the minimum" in card and "average of" not in card
    else:
        assert "average of 3 peers" in card
    # No scorecard, not even admin's or the manager's, names a peer; no page shows a peer's level.
    for username in ("boss", "mgr_a", "rep_a1"):
        client.login(username)
        body = client.get(f"/evaluation/scores/{score['id']}").text
        assert not any(name in body for name in PEER_NAMES), username
        pdf = client.get(f"/evaluation/scores/{score['id']}/report.pdf")
        assert pdf.status_code == 200
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        assert not any(name in text for name in PEER_NAMES)
    client.login("mgr_a")
    cycle_page = client.get(f"/evaluation/cycles/{cycle}").text
    # The manager sees whom they chose and how many answered, never which of them did.
    assert f"{answered} answered" in cycle_page and "submitted" not in cycle_page.split("Peers:")[1].split("</li>")[0]


def test_the_pdf_report_carries_the_reps_chinese_name_and_the_print_page_opens_every_item(client, team, settings):
    from server.accounts.tables import User

    w = team["world"]
    client.run(User.update({User.display_name: "张伟"}).where(User.id == w.rep))
    cycle = open_cycle(client, w.team_a, team["period"])
    client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "open"})
    answer(client, "mgr_a", assignment(client, cycle, w.rep, w.manager, "manager"), 4, "客户投诉当天处理")
    client.login("mgr_a")
    client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "rating"})
    client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "calibration"})
    score = score_of(client, cycle, w.rep)
    client.login("rep_a1")
    pdf = client.get(f"/evaluation/scores/{score['id']}/report.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    # The rep's name and the manager's comment in Chinese, the items in the reader's language (English here).
    assert "张伟" in text and "客户投诉当天处理" in text and "Revenue against target" in text
    printable = client.get(f"/evaluation/scores/{score['id']}/print")
    # Every item open (the tab bar's "More" menu, a <details> too, is not printed).
    items = re.findall(r'<details class="item"[^>]*>', printable.text)
    assert printable.status_code == 200 and items and all(i.endswith(" open>") for i in items)
    client.login("rep_a2")
    assert client.get(f"/evaluation/scores/{score['id']}/report.pdf").status_code == 404


def test_editing_a_template_makes_a_new_version_and_a_running_cycle_keeps_its_own(client, team, settings):
    from server.evaluation import catalogue, editor
    from server.evaluation.tables import ScorecardTemplate

    w = team["world"]
    cycle = open_cycle(client, w.team_a, team["period"])
    template = client.run(catalogue.load(UUID(FIELD)))
    form = editor.form_values(template)
    results, conduct = template.dimensions[0], template.dimensions[2]
    client.login("boss")
    # Weights that do not add up to 100 % are refused with the sum, and nothing typed is lost.
    bad = {**form, f"d_{results.id}_weight": "60", "name_en": "Field reps, 2027"}
    r = client.post_form(f"/evaluation/templates/{FIELD}", bad)
    assert r.status_code == 422 and "110 %" in r.text and "Field reps, 2027" in r.text
    # Sales results 60 %, conduct 10 %; revenue's floor 70 %.
    revenue = results.items[0]
    good = {**bad, f"d_{conduct.id}_weight": "10", f"i_{revenue.id}_floor": "70"}
    r = client.post_form(f"/evaluation/templates/{FIELD}", good)
    assert r.status_code == 303, r.text[:1000]
    new_id = UUID(r.headers["location"].rsplit("/", 1)[1])
    new = client.run(catalogue.load(new_id))
    assert new.version == 2 and new.code == "field" and new.dimensions[0].weight_bp == 6000
    assert new.dimensions[0].items[0].floor == pytest.approx(0.7) and new.name_en == "Field reps, 2027"
    current = client.run(ScorecardTemplate.select(ScorecardTemplate.id).where(
        (ScorecardTemplate.code == "field") & (ScorecardTemplate.current == True)))  # noqa: E712
    assert [c["id"] for c in current] == [new_id]
    # The cycle opened before keeps version 1.
    row = client.run(EvaluationCycle.select(EvaluationCycle.template).where(EvaluationCycle.id == cycle).first())
    assert row["template"] == UUID(FIELD)
    # A manager may not edit templates.
    client.login("mgr_a")
    assert client.get(f"/evaluation/templates/{new_id}").status_code == 403
