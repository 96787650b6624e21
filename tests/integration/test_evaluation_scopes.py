"""Evaluation on SQLite and PostgreSQL: templates scoped to a kind of rep and to a team (each rep of a
new cycle on the most specific one, and the cycle page says which), and anchored scales of 3 to 7 levels
(the editor's checks, in both languages, and the points a rating earns on a shorter scale)."""

from __future__ import annotations

import json
from datetime import timedelta
from uuid import UUID

import pytest

from server.evaluation import catalogue, editor, members
from server.evaluation.tables import EvaluationMember, Score
from server.targets import formulas
from tests.integration.test_evaluation import FIELD, answer, assignment, open_cycle, run_job, team  # noqa: F401

KEY = "00000000-0000-0000-0008-000000000002"  # the ready key-account template


def month_before(period: str) -> str:
    _k, start, _end = formulas.parse_period(period)
    before = start - timedelta(days=1)
    return formulas.month_code(before.year, before.month)


def chosen(client, cycle: UUID) -> dict[UUID, tuple[UUID, str]]:
    return {r["rep"]: (r["template"], r["basis"]) for r in client.run(EvaluationMember.select().where(
        EvaluationMember.cycle == cycle))}


def test_choose_prefers_team_then_kind_then_the_default():
    team_a, team_b, fallback = UUID(int=1), UUID(int=2), UUID(int=9)
    every_field = {"id": UUID(int=10), "code": "a", "team": None, "rep_kind": "field"}
    every_key = {"id": UUID(int=11), "code": "b", "team": None, "rep_kind": "key_account"}
    team_any = {"id": UUID(int=12), "code": "c", "team": team_a, "rep_kind": ""}
    team_key = {"id": UUID(int=13), "code": "d", "team": team_a, "rep_kind": "key_account"}
    other_team = {"id": UUID(int=14), "code": "e", "team": team_b, "rep_kind": ""}
    all_of_them = [every_field, every_key, team_any, team_key, other_team]
    assert members.choose("key_account", team_a, all_of_them, fallback) == (team_key["id"], "team")
    assert members.choose("field", team_a, all_of_them, fallback) == (team_any["id"], "team")
    assert members.choose("key_account", team_b, [every_field, every_key], fallback) == (every_key["id"], "kind")
    assert members.choose("key_account", team_b, [every_field, team_any], fallback) == (fallback, "default")
    assert members.choose("field", team_b, all_of_them, fallback) == (other_team["id"], "team")


def test_each_rep_gets_the_template_of_their_kind_then_of_their_team(client, team, settings):
    w = team["world"]
    key_rep = team["peers"][0]  # Peer Wang becomes a key account rep: the admin sets it on the user form
    client.login("boss")
    r = client.post_form(f"/admin/users/{key_rep}", {"display_name": "Peer Wang", "role": "rep", "team": str(w.team_a),
                                                     "active": "on", "rep_kind": "key_account"})
    assert r.status_code == 303, r.text[:1000]
    r = client.post_form(f"/admin/users/{key_rep}", {"display_name": "Peer Wang", "role": "rep", "team": str(w.team_a),
                                                     "active": "on", "rep_kind": "boss"})
    assert r.status_code == 422
    assert 'value="key_account" selected' in client.get(f"/admin/users/{key_rep}").text
    # The cycle's template is the field reps' one: the key account rep is on the key-account template.
    cycle = open_cycle(client, w.team_a, team["period"])
    picks = chosen(client, cycle)
    assert picks[key_rep] == (UUID(KEY), "kind") and picks[w.rep] == (UUID(FIELD), "kind")
    page = client.get(f"/evaluation/cycles/{cycle}").text
    assert "Key account rep scorecard v1, the template for this kind of rep" in page
    assert "Field sales rep scorecard v1, the template for this kind of rep" in page
    # Their forms and their scores follow their own template.
    form = client.get(f"/evaluation/forms/{assignment(client, cycle, key_rep, w.manager, 'manager')}").text
    assert "Depth of the account relationship" in form
    assert "Depth of the account relationship" not in client.get(
        f"/evaluation/forms/{assignment(client, cycle, w.rep, w.manager, 'manager')}").text
    assert client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "open"}).status_code == 303
    assert answer(client, "peer0", assignment(client, cycle, key_rep, key_rep, "self"), 3).status_code == 303
    run_job(client, settings)
    snaps = {r["rep"]: json.loads(r["snapshot"]) for r in client.run(Score.select(Score.rep, Score.snapshot).where(
        Score.cycle == cycle))}
    assert snaps[key_rep]["template"] == KEY and snaps[w.rep]["template"] == FIELD
    # A template for team A (every kind) is more specific than a kind's: the next cycle puts everyone on it.
    client.login("boss")
    values = editor.form_values(client.run(catalogue.load(UUID(FIELD))))
    r = client.post_form(f"/evaluation/templates/{FIELD}", {**values, "team": str(w.team_a), "rep_kind": ""})
    assert r.status_code == 303, r.text[:1000]
    scoped = UUID(r.headers["location"].rsplit("/", 1)[1])
    r = client.post_form(f"/evaluation/templates/{scoped}", {**values, "team": str(w.team_a), "rep_kind": "boss"})
    assert r.status_code == 422 and "Choose one of the options." in r.text
    client.login("mgr_a")
    r = client.post_form("/evaluation/cycles", {"team": str(w.team_a), "template": "", "kind": "month",
                                                "period": month_before(team["period"])})
    assert r.status_code == 303, r.text[:2000]
    later = UUID(r.headers["location"].rsplit("/", 1)[1])
    picks = chosen(client, later)
    assert set(picks.values()) == {(scoped, "team")} and len(picks) == 5
    assert "the template for this team" in client.get(f"/evaluation/cycles/{later}").text
    # The first cycle keeps what it was given.
    assert chosen(client, cycle)[key_rep] == (UUID(KEY), "kind")


def _scale(k: str, texts: list[tuple[str, str]]) -> dict[str, str]:
    data = {f"{k}_levels": str(len(texts))}
    for n, (zh, en) in enumerate(texts, start=1):
        data[f"{k}_a{n}_zh"], data[f"{k}_a{n}_en"] = zh, en
    return data


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_the_editor_takes_scales_of_three_to_seven_levels_each_described_once(client, team, locale):
    old = client.run(catalogue.load(UUID(FIELD)))
    self_item = next(i for i in old.items() if i.source == "self")
    dim = next(d for d in old.dimensions if self_item in d.items)
    k, n = f"i_{self_item.id}", f"n_{dim.id}"
    client.login("boss")
    language = {"accept-language": "zh-CN" if locale == "zh_CN" else "en"}
    values = editor.form_values(old)
    assert values[f"{k}_levels"] == "5"
    three = [("未达到", "Below"), ("达到", "Meets"), ("超出", "Above")]
    seven = [(f"第{m}级", f"Step {m}") for m in range(1, 8)]
    base = {**values, **{key: "" for key in values if key.startswith(f"{k}_a")}}
    # The existing self item shrinks to three levels; a new self item of seven takes half its weight.
    weight = self_item.weight_bp / 100
    good = {**base, **_scale(k, three), f"{k}_weight": f"{weight / 2:g}", f"{n}_zh": "自我成长", f"{n}_en": "Growth",
            f"{n}_weight": f"{weight / 2:g}", f"{n}_source": "self", **_scale(n, seven)}
    wrong = {
        "a level left undescribed": ({f"{k}_a2_en": ""}, f"{k}_a2_en",
                                     {"en": "Describe level 2", "zh_CN": "请描述第 2 级"}),
        "two levels alike": ({f"{n}_a4_zh": "第2级"}, f"{n}_a4_zh",
                             {"en": "same description as level 2", "zh_CN": "与第 2 级的描述相同"}),
        "eight levels": ({f"{k}_levels": "8"}, f"{k}_levels", {"en": "3 to 7 levels", "zh_CN": "3 到 7 级"}),
        "two levels": ({f"{k}_levels": "2"}, f"{k}_levels", {"en": "3 to 7 levels", "zh_CN": "3 到 7 级"}),
    }
    for case, (change, field, message) in wrong.items():
        r = client.post_form(f"/evaluation/templates/{FIELD}", {**good, **change}, headers=language)
        assert r.status_code == 422, case
        assert message[locale] in r.text, (case, r.text[:200])
        assert f'id="f-{field}"' in r.text
    r = client.post_form(f"/evaluation/templates/{FIELD}", good)
    assert r.status_code == 303, r.text[:3000]
    new = client.run(catalogue.load(UUID(r.headers["location"].rsplit("/", 1)[1])))
    scales = sorted(len(i.anchors) for i in new.items() if i.source == "self")
    assert scales == [3, 7]
    shrunk = next(i for i in new.items() if i.source == "self" and len(i.anchors) == 3)
    assert [a["en"] for a in shrunk.anchors] == ["Below", "Meets", "Above"] and shrunk.spec().levels == 3
    # The editor shows the stored scale again, with its count.
    page = client.get(f"/evaluation/templates/{new.id}").text
    assert 'value="3" selected' in page and "Step 7" in page


def test_a_rating_on_a_three_level_scale_scores_by_its_own_count(client, team, settings):
    w = team["world"]
    old = client.run(catalogue.load(UUID(FIELD)))
    self_item = next(i for i in old.items() if i.source == "self")
    k = f"i_{self_item.id}"
    client.login("boss")
    values = editor.form_values(old)
    data = {**values, **{key: "" for key in values if key.startswith(f"{k}_a")},
            **_scale(k, [("未达到", "Below"), ("达到", "Meets"), ("超出", "Above")])}
    r = client.post_form(f"/evaluation/templates/{FIELD}", data)
    assert r.status_code == 303, r.text[:2000]
    three = UUID(r.headers["location"].rsplit("/", 1)[1])
    client.login("mgr_a")
    r = client.post_form("/evaluation/cycles", {"team": str(w.team_a), "template": str(three), "kind": "month",
                                                "period": team["period"]})
    assert r.status_code == 303, r.text[:2000]
    cycle = UUID(r.headers["location"].rsplit("/", 1)[1])
    assert chosen(client, cycle)[w.rep][0] == three  # the field reps' template's current version
    assert client.post_form(f"/evaluation/cycles/{cycle}/advance", {"state": "open"}).status_code == 303
    form = assignment(client, cycle, w.rep, w.rep, "self")
    client.login("rep_a1")
    page = client.get(f"/evaluation/forms/{form}").text
    assert "Above" in page and 'value="4"' not in page
    r = client.post_form(f"/evaluation/forms/{form}", {"action": "submit", f"level_{_item(three, client)}": "4"})
    assert r.status_code == 422  # no level 4 on a three-level scale
    assert answer(client, "rep_a1", form, 2).status_code == 303
    run_job(client, settings)
    score = client.run(Score.select(Score.snapshot).where((Score.cycle == cycle) & (Score.rep == w.rep)).first())
    record = json.loads(score["snapshot"])["items"][str(_item(three, client))]
    assert record["levels"] == 3 and record["points"] == pytest.approx(50.0)


def _item(template_id: UUID, client) -> UUID:
    return next(i.id for i in client.run(catalogue.load(template_id)).items() if i.source == "self")
