"""What the evaluation pages show, read for the signed-in actor: the hub, a cycle with its ranking, a
rating form with the rep's data items scored beside it, the calibration view, a rep's scorecard.

A scorecard is read from its score's snapshot, never recomputed: what the rep reads is exactly what was
computed, and a later correction of an order does not change it."""

from __future__ import annotations

import json
from datetime import date
from uuid import UUID

from litestar.exceptions import NotFoundException
from markupsafe import Markup

from server.accounts.permissions import Actor
from server.dashboards.charts import bars_and_line
from server.evaluation import catalogue, members, scoring, services
from server.evaluation.tables import EvaluationCycle, RaterAssignment, Rating, Score
from server.i18n import N_, _, fmt_number

MISSING_LABELS = {
    scoring.NO_DATA: N_("no data in the period"),
    scoring.NO_TARGET: N_("no target set"),
    scoring.ZERO_TARGET: N_("the target is zero"),
    scoring.TOO_FEW_PEERS: N_("fewer peers answered than the minimum"),
    scoring.NOT_RATED: N_("not rated"),
}
SOURCE_LABELS = {"kpi": N_("KPI attainment"), "process": N_("Process measure"), "manager": N_("Manager rating"),
                 "peer": N_("Peer rating (average)"), "self": N_("Self rating")}
STATE_LABELS = {"open": N_("Open"), "rating": N_("Rating"), "calibration": N_("Calibration"),
                "published": N_("Published"), "acknowledged": N_("Acknowledged")}
PROCESS_LABELS = {"reports_on_time": N_("Daily reports submitted on time, over working days"),
                  "visits_located": N_("Visits with a location, over visits"),
                  "visits_per_day": N_("Visits per working day"),
                  "opportunities_fresh": N_("Open opportunities updated in the last 14 days, over open ones")}
GRADE_LABELS = {"top": N_("Top"), "middle": N_("Middle"), "bottom": N_("Bottom")}


def final_value(score: dict) -> float | None:
    return score["calibrated"] if score.get("calibrated") is not None else score.get("total")


async def hub(actor: Actor) -> dict:
    """My forms to fill, my published scorecards, and (managers, admin) the cycles I run."""
    forms = await RaterAssignment.select(
        RaterAssignment.id, RaterAssignment.role, RaterAssignment.submitted_at,
        RaterAssignment.ratee.display_name.as_alias("ratee_name"), RaterAssignment.cycle.period.as_alias("period"),
        RaterAssignment.cycle.state.as_alias("state"), RaterAssignment.cycle.rating_due.as_alias("due"),
    ).where((RaterAssignment.rater == actor.id) & RaterAssignment.cycle.state.is_in(["open", "rating"]))
    mine = await Score.select(Score.id, Score.total, Score.calibrated, Score.acknowledged_at,
                              Score.cycle.period.as_alias("period"), Score.cycle.state.as_alias("state")).where(
        (Score.rep == actor.id) & Score.cycle.state.is_in(["published", "acknowledged"])).order_by(
        Score.cycle.period, ascending=False)
    cycles = await services.cycles(actor) if not actor.is_rep else []
    return {"forms": forms, "mine": mine, "cycles": cycles, "nominate": await services.nomination_cycles(actor)}


async def latest_parts(mine: list[dict]) -> list[tuple[str, float | None]]:
    """The dimensions of the rep's latest published score, (name, points), from its snapshot: the top of
    "My evaluation" (the whole card, with every item's numbers, is the scorecard page)."""
    if not mine:
        return []
    row = await services.score_row(mine[0]["id"])
    if row is None:  # pragma: no cover - read just before
        return []
    template = await members.rep_template({"id": row["cycle"], "template": row["template"]}, row["rep"])
    dims = json.loads(row["snapshot"] or "{}").get("dimensions", {})
    return [(d.name, dims.get(str(d.id), {}).get("points")) for d in template.dimensions]


async def home_summary(actor: Actor) -> dict:
    """What a cycle asks of the rep, for the card on their home: their self rating (open or rating,
    not submitted), the peer ratings they owe, their published score waiting for their acknowledgement,
    and open cycles taking their peer nominations. `asks` is False when nothing waits (no card)."""
    hub_rows = await hub(actor)
    todo = [f for f in hub_rows["forms"] if f["submitted_at"] is None]
    self_forms = [f for f in todo if f["role"] == "self"]
    peer_forms = [f for f in todo if f["role"] == "peer"]
    unacknowledged = [s for s in hub_rows["mine"] if s["acknowledged_at"] is None]
    latest = hub_rows["mine"][0] if hub_rows["mine"] else None
    return {"self_forms": self_forms, "peer_forms": peer_forms, "unacknowledged": unacknowledged,
            "nominate": hub_rows["nominate"], "latest": latest, "latest_value": final_value(latest) if latest else None,
            "value": final_value, "todo": len(todo),
            "asks": bool(self_forms or peer_forms or unacknowledged or hub_rows["nominate"])}


async def cycle_page(actor: Actor, cycle_id: UUID, sort: str = "") -> dict:
    """A cycle for its manager or admin: raters, proposals, and the ranking of its reps by total, or by one
    dimension's points when `sort` is that dimension's id (an unknown one ranks by total)."""
    cycle = await services.cycle_for(actor, cycle_id)
    template = await services.cycle_template(cycle)
    assignments = await services.assignments(cycle_id)
    reps = await services.scores.cycle_reps(cycle_id)
    rows = await Score.select(Score.id, Score.rep, Score.total, Score.calibrated, Score.final, Score.snapshot,
                              Score.acknowledged_at).where(Score.cycle == cycle_id)
    by_rep = {r["rep"]: r for r in rows}
    chosen = await members.of_cycle(cycle_id)
    ranking: list[dict] = []
    for rep in reps:
        s = by_rep.get(rep["id"])
        dims = json.loads(s["snapshot"]).get("dimensions", {}) if s else {}
        member = chosen.get(rep["id"], {"template": template.id, "basis": "default"})
        own = await catalogue.load(member["template"]) or template
        # A rep on another template: its dimensions by position under the cycle template's columns.
        columns = [str(own.dimensions[n].id) if n < len(own.dimensions) else ""
                   for n in range(len(template.dimensions))]
        ranking.append({"rep": rep, "score": s, "value": final_value(s) if s else None,
                        "dims": [dims.get(key, {}).get("points") for key in columns],
                        "template": own, "basis": member["basis"]})
    column = next((n for n, d in enumerate(template.dimensions) if str(d.id) == sort), None)
    if column is None:
        ranking.sort(key=lambda r: (r["value"] is None, -float(r["value"] or 0)))
    else:
        ranking.sort(key=lambda r: (r["dims"][column] is None, -float(r["dims"][column] or 0)))
    peers: dict[UUID, list[UUID]] = {}
    for a in assignments:
        if a["role"] == "peer":
            peers.setdefault(a["ratee"], []).append(a["rater"])
    return {"cycle": cycle, "tpl": template, "assignments": assignments, "reps": reps, "ranking": ranking,
            "peers": peers, "nominations": await services.nominations(cycle_id),
            "rep_templates": {r["rep"]["id"]: r for r in ranking}, "basis_labels": members.BASIS_LABELS,
            "mixed": any(r["template"].id != template.id for r in ranking),
            "sort": str(template.dimensions[column].id) if column is not None else ""}


async def form_page(actor: Actor, assignment_id: UUID) -> dict:
    """A rating form: only its rater sees it (anyone else: 404). The manager's form shows the rep's data
    items as last computed beside it."""
    a = await RaterAssignment.select(*RaterAssignment.all_columns(),
                                     RaterAssignment.ratee.display_name.as_alias("ratee_name")).where(
        (RaterAssignment.id == assignment_id) & (RaterAssignment.rater == actor.id)).first()
    if a is None:
        raise NotFoundException()
    cycle = await EvaluationCycle.select().where(EvaluationCycle.id == a["cycle"]).first()
    if cycle is None:  # pragma: no cover - cascade
        raise NotFoundException()
    template = await members.rep_template(cycle, a["ratee"])
    items = template.sources(a["role"])
    answers = {str(r["item"]): r for r in await Rating.select().where(Rating.assignment == assignment_id)}
    data_items: list[dict] = []
    period: dict | None = None
    if a["role"] == "manager":
        score = await Score.select(Score.snapshot, Score.total).where(
            (Score.cycle == cycle["id"]) & (Score.rep == a["ratee"])).first()
        snap = json.loads(score["snapshot"]) if score else {}
        for item in template.sources("kpi", "process"):
            data_items.append({"item": item, "record": snap.get("items", {}).get(str(item.id), {})})
        period = rep_period(template, snap)
    return {"assignment": a, "cycle": cycle, "tpl": template, "items": items, "answers": answers,
            "data_items": data_items, "period": period}


def rep_period(template: catalogue.Template, snap: dict) -> dict | None:
    """The rep's period beside the manager's form, from the score's snapshot (the scores job computed it
    with the pace engine and the process measures; nothing is queried again): visits, reports on time over
    working days, and each KPI item's actual against its target to date. None before a first computation."""
    summary = snap.get("summary")
    if not snap or summary is None:
        return None
    kpis = []
    for item in template.sources("kpi"):
        r = snap.get("items", {}).get(str(item.id), {})
        actual, to_date = r.get("actual"), r.get("target_to_date")
        pace = actual / to_date if isinstance(actual, int | float) and to_date else None
        kpis.append({"item": item, "actual": actual, "target_to_date": to_date, "pace": pace})
    as_of = snap.get("as_of")
    return {**summary, "kpis": kpis, "as_of": date.fromisoformat(as_of) if as_of else None}


async def scorecard(actor: Actor, score_id: UUID, reps_see_ranking: bool) -> dict:
    """A rep's scorecard: the rep once published, their manager and admin at any time; anyone else 404."""
    row = await services.score_row(score_id)
    if row is None:
        raise NotFoundException()
    if actor.is_rep:
        if row["rep"] != actor.id or row["state"] not in ("published", "acknowledged"):
            raise NotFoundException()
    elif not (actor.is_admin or row["team"] in actor.led_team_ids):
        raise NotFoundException()
    snap = json.loads(row["snapshot"])
    template = await members.rep_template({"id": row["cycle"], "template": row["template"]}, row["rep"])
    comments = await Rating.select(Rating.item, Rating.level, Rating.comment,
                                   Rating.assignment.role.as_alias("role")).where(
        (Rating.assignment.cycle == row["cycle"]) & (Rating.assignment.ratee == row["rep"])
        & Rating.assignment.role.is_in(["manager", "self"]) & Rating.assignment.submitted_at.is_not_null())
    by_item: dict[str, list[dict]] = {}
    for c in comments:
        if c["comment"]:
            by_item.setdefault(str(c["item"]), []).append(c)
    past = await Score.select(Score.id, Score.total, Score.calibrated, Score.cycle.period.as_alias("period")).where(
        (Score.rep == row["rep"]) & Score.cycle.state.is_in(["published", "acknowledged"])).order_by(
        Score.cycle.period, ascending=False).limit(12)
    rank = None
    if not actor.is_rep or reps_see_ranking:
        values = [final_value(s) for s in await Score.select(Score.total, Score.calibrated).where(
            Score.cycle == row["cycle"])]
        mine = final_value(row)
        if mine is not None:
            rank = (1 + sum(1 for v in values if v is not None and v > mine), len(values))
    return {"score": row, "snap": snap, "tpl": template, "comments": by_item,
            "history": services_history(await services.history(score_id)), "past": past, "rank": rank,
            "value": final_value(row), "trend": trend_chart(past)}


def services_history(rows: list[dict]) -> list[dict]:
    return [{**r, "detail": json.loads(r["detail"] or "{}")} for r in rows]


async def calibration(actor: Actor, cycle_id: UUID) -> dict:
    page = await cycle_page(actor, cycle_id)
    values = [r["value"] for r in page["ranking"] if r["value"] is not None]
    guide = scoring.parse_guide(page["cycle"]["guide"] or "")
    page["warnings"] = scoring.guide_warnings(values, guide) if guide else []
    page["guide"] = guide
    page["values"] = values
    return page


def template_items(template: catalogue.Template) -> list[catalogue.Item]:
    return template.items()


def trend_chart(past: list[dict]) -> Markup | None:
    """The last published scores (newest first, as `scorecard` reads them) as bars out of 100, oldest on
    the left: the dashboards' server-rendered SVG. None when there is nothing to draw."""
    points = [(p["period"], final_value(p)) for p in reversed(past)]
    if not any(v is not None for _p, v in points):
        return None
    labels = [period for period, _v in points]
    values = [float(v) if v is not None else None for _p, v in points]
    return bars_and_line(labels, values, [None] * len(points), title=_("Trend of the last 12 periods"),
                         desc=", ".join(f"{label}: {fmt_number(v, 1) if v is not None else '–'}"
                                        for label, v in zip(labels, values, strict=True)),
                         bar_label=_("Score"), peak=100.0)


BANDS = ((0, 60), (60, 70), (70, 80), (80, 90), (90, 101))


def distribution_chart(values: list[float]) -> Markup:
    """The team's scores by band of ten points, as the dashboards' server-rendered SVG bars."""
    labels = [f"<{BANDS[0][1]}", *[f"{lo}–{hi - 1}" for lo, hi in BANDS[1:-1]], f"≥{BANDS[-1][0]}"]
    counts: list[float | None] = [float(sum(1 for v in values if lo <= v < hi)) for lo, hi in BANDS]
    return bars_and_line(labels, counts, [None] * len(BANDS), title=_("Distribution of the scores"),
                         desc=", ".join(f"{label}: {int(c or 0)}" for label, c in zip(labels, counts, strict=True)),
                         bar_label=_("Reps"))
