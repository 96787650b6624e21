"""The evaluation's flow around the ratings, over HTTP on SQLite and PostgreSQL: the rep's way in from
their home, peers nominated by the rep and approved or replaced by the manager, and the reminders before
the rating due date (once per rater and day, however often the job runs)."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from server import clock
from server.evaluation.tables import EvaluationCycle, PeerNomination, RaterAssignment
from server.notifications.tables import Notification
from tests.integration.test_evaluation import FIELD, answer, assignment, open_cycle, run_job, team  # noqa: F401


def peers_of(client, cycle: UUID, rep: UUID) -> set[UUID]:
    return {r["rater"] for r in client.run(RaterAssignment.select(RaterAssignment.rater).where(
        (RaterAssignment.cycle == cycle) & (RaterAssignment.ratee == rep) & (RaterAssignment.role == "peer")))}


def test_the_reps_home_leads_to_their_forms_and_nomination(client, team):
    w = team["world"]
    client.login("rep_a1")
    assert "home-evaluation" not in client.get("/home").text  # nothing to do yet: no card
    cycle = open_cycle(client, w.team_a, team["period"])
    client.login("rep_a1")
    home = client.get("/home").text
    form = assignment(client, cycle, w.rep, w.rep, "self")
    assert "home-evaluation" in home and f'href="/evaluation/forms/{form}">Rate yourself for {team["period"]}' in home
    assert "Propose the colleagues who rate you" in home and f'href="/evaluation/cycles/{cycle}/nominate"' in home
    assert 'href="/evaluation">My evaluation' in home
    hub = client.get("/evaluation").text
    assert f"/evaluation/cycles/{cycle}/nominate" in hub
    assert f"/evaluation/forms/{assignment(client, cycle, w.rep, w.rep, 'self')}" in hub


def test_a_rep_nominates_teammates_and_the_manager_approves(client, team):
    w = team["world"]
    cycle = open_cycle(client, w.team_a, team["period"])
    peers = team["peers"]
    client.login("rep_a1")
    page = client.get(f"/evaluation/cycles/{cycle}/nominate")
    assert page.status_code == 200 and "Peer Wang" in page.text and "rep_b1" not in page.text
    # Not a teammate (another team's rep), nor themself: 422, nothing saved.
    r = client.post_form(f"/evaluation/cycles/{cycle}/nominate", {"peer": [str(peers[0]), str(w.rep_b)]})
    assert r.status_code == 422 and "colleagues of the same team" in r.text
    r = client.post_form(f"/evaluation/cycles/{cycle}/nominate", {"peer": [str(w.rep)]})
    assert r.status_code == 422
    assert not client.run(PeerNomination.select().where(PeerNomination.cycle == cycle))
    r = client.post_form(f"/evaluation/cycles/{cycle}/nominate", {"peer": [str(p) for p in peers[:2]]})
    assert r.status_code == 303
    # Proposing again replaces the earlier proposal.
    r = client.post_form(f"/evaluation/cycles/{cycle}/nominate", {"peer": [str(p) for p in peers]})
    assert r.status_code == 303
    assert peers_of(client, cycle, w.rep) == set()  # a proposal, not yet peers
    # Another team's manager cannot approve it; a rep cannot either.
    assert client.post_form(f"/evaluation/cycles/{cycle}/nominations/approve", {"rep": str(w.rep)}).status_code == 403
    client.login("mgr_b")
    assert client.post_form(f"/evaluation/cycles/{cycle}/nominations/approve", {"rep": str(w.rep)}).status_code == 404
    client.login("mgr_a")
    assert "Proposed by the rep: Peer Li, Peer Wang, Peer Zhao" in client.get(f"/evaluation/cycles/{cycle}").text
    # A rep without a proposal: nothing to approve.
    assert client.post_form(f"/evaluation/cycles/{cycle}/nominations/approve",
                            {"rep": str(w.other_rep)}).status_code == 404
    assert client.post_form(f"/evaluation/cycles/{cycle}/nominations/approve", {"rep": str(w.rep)}).status_code == 303
    assert peers_of(client, cycle, w.rep) == set(peers)
    decisions = {r["decision"] for r in client.run(PeerNomination.select().where(PeerNomination.cycle == cycle))}
    assert decisions == {"approved"}
    # Decided: the rep can no longer change the proposal.
    client.login("rep_a1")
    assert client.post_form(f"/evaluation/cycles/{cycle}/nominate", {"peer": [str(peers[0])]}).status_code == 409


def test_the_manager_replaces_a_proposal_and_nomination_closes_with_the_rating(client, team):
    w = team["world"]
    cycle = open_cycle(client, w.team_a, team["period"])
    client.login("rep_a2")
    assert client.post_form(f"/evaluation/cycles/{cycle}/nominate", {"peer": [str(team["peers"][0])]}).status_code == 303
    client.login("mgr_a")
    r = client.post_form(f"/evaluation/cycles/{cycle}/peers", {"rep": str(w.other_rep), "peer": [str(team["peers"][1])]})
    assert r.status_code == 303
    assert peers_of(client, cycle, w.other_rep) == {team["peers"][1]}
    assert "replaced" in client.get(f"/evaluation/cycles/{cycle}").text
    # rep_a1 did not nominate before the rating started: too late now.
    assert client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "open"}).status_code == 303
    client.login("rep_a1")
    assert client.post_form(f"/evaluation/cycles/{cycle}/nominate", {"peer": [str(team["peers"][0])]}).status_code == 409
    # A rep of another team does not see the cycle's nomination page at all.
    client.login("rep_b1")
    assert client.get(f"/evaluation/cycles/{cycle}/nominate").status_code == 404


def test_reminders_before_the_due_date_once_per_rater_and_day(client, team, settings):
    w = team["world"]
    cycle = open_cycle(client, w.team_a, team["period"])
    client.post_form(f"/evaluation/cycles/{cycle}/peers", {"rep": str(w.rep), "peer": [str(team["peers"][0])]})
    assert client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "open"}).status_code == 303
    # rep_a2 submits their self rating; everyone else has forms open.
    assert answer(client, "rep_a2", assignment(client, cycle, w.other_rep, w.other_rep, "self"), 3).status_code == 303

    def reminders() -> list[dict]:
        return client.run(Notification.select(Notification.recipient, Notification.level, Notification.params).where(
            (Notification.kind == "evaluation_reminder") & (Notification.subject == str(cycle))))

    # Ten days before the due date: no reminder.
    client.run(EvaluationCycle.update({EvaluationCycle.rating_due: clock.today() + timedelta(days=10)}).where(
        EvaluationCycle.id == cycle))
    assert run_job(client, settings)["reminders"] == 0
    # Three days before: one reminder per rater with an open form; the job again on the same day: none more.
    client.run(EvaluationCycle.update({EvaluationCycle.rating_due: clock.today() + timedelta(days=3)}).where(
        EvaluationCycle.id == cycle))
    first = run_job(client, settings)["reminders"]
    assert run_job(client, settings)["reminders"] == 0
    rows = reminders()
    recipients = [r["recipient"] for r in rows]
    assert first == len(rows) == len(set(recipients))
    assert w.other_rep not in recipients  # submitted everything
    assert {w.manager, w.rep, team["peers"][0]} <= set(recipients)
    manager = next(r for r in rows if r["recipient"] == w.manager)
    assert '"open": 5' in manager["params"]  # five reps to rate
    # The manager's inbox renders the reminder in their language.
    client.login("mgr_a")
    inbox = client.get("/inbox")
    assert inbox.status_code == 200 and "Reminder: your evaluation ratings" in inbox.text


def test_a_template_scoped_to_a_team_is_that_teams_default_and_no_other_teams(client, team):
    from server.evaluation import catalogue, editor

    w = team["world"]
    field_id = UUID(FIELD)
    client.login("boss")
    values = editor.form_values(client.run(catalogue.load(field_id)))
    r = client.post_form(f"/evaluation/templates/{field_id}", {**values, "team": str(w.team_b)})
    assert r.status_code == 303, r.text[:1000]
    scoped = UUID(r.headers["location"].rsplit("/", 1)[1])
    assert client.run(catalogue.load(scoped)).team == w.team_b
    # A team that does not exist: a clear error, nothing saved.
    values = editor.form_values(client.run(catalogue.load(scoped)))
    r = client.post_form(f"/evaluation/templates/{scoped}", {**values, "team": str(uuid4())})
    assert r.status_code == 422 and "Choose a team, or all teams." in r.text
    # Team A's manager: the team_b template is not offered, and refused when sent.
    client.login("mgr_a")
    assert str(scoped) not in client.get("/evaluation/cycles/new").text
    r = client.post_form("/evaluation/cycles", {"team": str(w.team_a), "template": str(scoped), "kind": "month",
                                                "period": team["period"]})
    assert r.status_code == 422 and "applies to another team" in r.text
    # No template chosen: team A starts on a template for all teams (key accounts now), team B on its own.
    r = client.post_form("/evaluation/cycles", {"team": str(w.team_a), "template": "", "kind": "month",
                                                "period": team["period"]})
    assert r.status_code == 303
    cycle_a = client.run(EvaluationCycle.select(EvaluationCycle.template).where(EvaluationCycle.team == w.team_a).first())
    assert client.run(catalogue.load(cycle_a["template"])).team is None
    client.login("mgr_b")
    r = client.post_form("/evaluation/cycles", {"team": str(w.team_b), "template": "", "kind": "month",
                                                "period": team["period"]})
    assert r.status_code == 303
    cycle_b = client.run(EvaluationCycle.select(EvaluationCycle.template).where(EvaluationCycle.team == w.team_b).first())
    assert cycle_b["template"] == scoped


def test_the_editor_adds_and_removes_dimensions_and_items(client, team):
    from server.evaluation import catalogue, editor

    field_id = UUID(FIELD)
    old = client.run(catalogue.load(field_id))
    client.login("boss")
    page = client.get(f"/evaluation/templates/{field_id}")
    assert page.status_code == 200 and "Add a dimension" in page.text and "Remove this item" in page.text
    values = editor.form_values(old)
    first, last = old.dimensions[0], old.dimensions[-1]
    dropped = first.items[0]
    # Drop the first item of the first dimension and add a self-rated item; the weights no longer add up.
    data = {**values, f"i_{dropped.id}_remove": "1", f"n_{first.id}_zh": "学习新产品", f"n_{first.id}_en": "New products",
            f"n_{first.id}_weight": "1", f"n_{first.id}_source": "self"}
    for n in range(1, 6):
        data[f"n_{first.id}_a{n}_zh"], data[f"n_{first.id}_a{n}_en"] = f"水平{n}", f"Level text {n}"
    r = client.post_form(f"/evaluation/templates/{field_id}", data)
    assert r.status_code == 422 and "add up to" in r.text and "not 100 %" in r.text
    assert "学习新产品" in r.text and "Level text 3" in r.text  # nothing typed is lost
    # Fix the weights: the dropped item's weight goes to the new one. Remove the last dimension and add one
    # with a KPI item; its weight takes the removed dimension's.
    data[f"n_{first.id}_weight"] = f"{dropped.weight_bp / 100:g}"
    data.update({f"d_{last.id}_remove": "1", "nd_zh": "回款", "nd_en": "Collections", "nd_weight": f"{last.weight_bp / 100:g}",
                 "nd_i_zh": "回款达成", "nd_i_en": "Collections attained", "nd_i_weight": "100", "nd_i_source": "kpi",
                 "nd_i_kpi": "no-such-kpi", "nd_i_floor": "50", "nd_i_cap": "100"})
    r = client.post_form(f"/evaluation/templates/{field_id}", data)
    assert r.status_code == 422 and "Choose one of the options." in r.text
    data["nd_i_kpi"] = "revenue"
    r = client.post_form(f"/evaluation/templates/{field_id}", data)
    assert r.status_code == 303, r.text[:3000]
    new = client.run(catalogue.load(UUID(r.headers["location"].rsplit("/", 1)[1])))
    assert new.version == old.version + 1 and len(new.dimensions) == len(old.dimensions)
    assert [d.name_en for d in new.dimensions][-1] == "Collections"
    assert last.name_en not in [d.name_en for d in new.dimensions]
    added = [i for i in new.dimensions[0].items if i.name_en == "New products"]
    assert added and added[0].source == "self" and added[0].anchors[2] == {"zh": "水平3", "en": "Level text 3"}
    assert dropped.name_en not in [i.name_en for i in new.dimensions[0].items]
    kpi_item = new.dimensions[-1].items[0]
    assert (kpi_item.source, kpi_item.kpi_code, kpi_item.floor, kpi_item.cap) == ("kpi", "revenue", 0.5, 1.0)
    # The version the running cycles use is untouched.
    assert len(client.run(catalogue.load(field_id)).dimensions[0].items) == len(first.items)


def test_the_ranking_by_score_and_by_dimension_the_reps_setting_and_a_guide_that_only_warns(client, team, settings):
    import json
    from dataclasses import replace

    from server.evaluation import catalogue, scores
    from server.evaluation.tables import Score

    w = team["world"]
    cycle = open_cycle(client, w.team_a, team["period"])
    dims = client.run(catalogue.load(UUID(FIELD))).dimensions
    first = str(dims[0].id)
    # rep_a1 leads on the total, rep_a2 on the first dimension.
    client.run(scores.compute(cycle, final=True, peer_min=3))
    ids = {}
    for rep, total, points in ((w.rep, 80.0, 10.0), (w.other_rep, 60.0, 30.0)):
        row = client.run(Score.select(Score.id, Score.snapshot).where((Score.cycle == cycle) & (Score.rep == rep)).first())
        snap = json.loads(row["snapshot"])
        snap["dimensions"][first]["points"] = points
        ids[rep] = row["id"]
        client.run(Score.update({Score.total: total, Score.snapshot: json.dumps(snap)}).where(Score.id == row["id"]))
    client.login("mgr_a")
    by_total = client.get(f"/evaluation/cycles/{cycle}").text
    assert by_total.index(f"/evaluation/scores/{ids[w.rep]}") < by_total.index(f"/evaluation/scores/{ids[w.other_rep]}")
    by_dim = client.get(f"/evaluation/cycles/{cycle}?sort={first}").text
    assert by_dim.index(f"/evaluation/scores/{ids[w.other_rep]}") < by_dim.index(f"/evaluation/scores/{ids[w.rep]}")
    assert "Ranked by one dimension" in by_dim
    # An unknown column ranks by total.
    odd = client.get(f"/evaluation/cycles/{cycle}?sort=nonsense")
    assert odd.status_code == 200 and "Ranked by score" in odd.text
    # Another team's manager: 404.
    client.login("mgr_b")
    assert client.get(f"/evaluation/cycles/{cycle}?sort={first}").status_code == 404
    # Published: the rep sees their rank only when the setting is on.
    client.run(EvaluationCycle.update({EvaluationCycle.state: "published"}).where(EvaluationCycle.id == cycle))
    client.login("rep_a1")
    assert "Rank 1 of" not in client.get(f"/evaluation/scores/{ids[w.rep]}").text
    client.app.state.settings = replace(settings, evaluation_reps_see_ranking=True)
    assert "Rank 1 of" in client.get(f"/evaluation/scores/{ids[w.rep]}").text
    # The guide (20/70/10) warns about two reps in the top grade of two, and calibration still accepts
    # any score (it never forces).
    client.run(EvaluationCycle.update({EvaluationCycle.state: "calibration"}).where(EvaluationCycle.id == cycle))
    client.run(Score.update({Score.total: 90.0}).where(Score.cycle == cycle))
    client.login("mgr_a")
    page = client.get(f"/evaluation/cycles/{cycle}/calibration")
    assert page.status_code == 200 and "A warning, not a rule." in page.text
    r = client.post_form(f"/evaluation/scores/{ids[w.rep]}/adjust", {"score": "95", "reason": "Best quarter"})
    assert r.status_code == 303
