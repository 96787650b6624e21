"""Computing scores: a cycle's inputs (measures.gather, set-based) through the pure scoring, one card per
rep, stored with a snapshot of every input. Provisional scores are rewritten while the cycle is open;
final ones (from the close) are frozen: only an admin's re-open, with a reason, computes one again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID, uuid4

from server import clock, db
from server.accounts.tables import User
from server.evaluation import catalogue, measures, members, scoring
from server.evaluation.catalogue import Item, Template
from server.evaluation.measures import Inputs
from server.evaluation.tables import EvaluationCycle, Score
from server.targets import formulas

COLUMNS = ("id", "cycle", "rep", "final", "total", "calibrated", "formula_version", "snapshot", "computed_at",
           "acknowledged_at", "reply")
CHUNK = 400
# One encoder for every snapshot (json.dumps with options builds a new one per call).
_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class Days:
    """A rep's working days in the period: all of them, those they were a member of a team on, and of
    those the ones up to the last day counted. `spans`: their stretches in a team (None: all along)."""

    period: int
    member: int
    to_date: int
    spans: tuple[scoring.Span, ...] | None

    @property
    def joined(self) -> date | None:
        """The first day in a team, when the rep was not a member from the period's start."""
        return self.spans[0][0] if self.spans else None


def member_days(inputs: Inputs, rep: UUID, memo: dict | None = None) -> Days:
    """The rep's `Days`, from the memberships gathered with the inputs; `memo` shares the arithmetic
    between reps with the same stretches (every rep there all along: one computation per period)."""
    spans = inputs.members.get(rep)
    if memo is not None and spans in memo:
        return memo[spans]
    start, end, as_of, overrides = inputs.start, inputs.end, inputs.as_of, inputs.overrides
    days = Days(formulas.working_days(start, end, overrides), scoring.member_days(spans, start, end, overrides),
                scoring.member_days(spans, start, as_of, overrides) if as_of >= start else 0, spans)
    if memo is not None:
        memo[spans] = days
    return days


def measure_item(item: Item, inputs: Inputs, rep: UUID, days: Days, peer_min: int,
                 levels: int = 5) -> tuple[scoring.Measure, dict]:
    """The measure of one item for one rep and what it was computed from (the snapshot's record)."""
    record: dict = {"source": item.source, "floor": item.floor, "cap": item.cap}
    start, end = inputs.start, inputs.end
    partial = days.spans is not None
    if item.source == "kpi":
        fig = inputs.kpi.get(item.kpi_code, {}).get(rep)
        record["kpi"] = item.kpi_code
        if fig is None:
            return scoring.Measure(missing=scoring.NO_DATA), record
        target = fig["target"]
        prorated = scoring.prorate_member(target, start, end, days.spans, inputs.overrides) \
            if fig["kind"] == "sum" else target
        if fig["kind"] == "rate" or prorated is None:
            to_date = prorated
        elif partial:
            to_date = prorated * (days.to_date / days.member if days.member else 1.0)
        else:
            to_date = fig["expected"] if fig["expected"] is not None else prorated
        worst = item.band_worst if item.band_worst is not None else fig["floor"]
        joined = days.joined
        record.update(actual=fig["actual"], target=target, prorated=_round(prorated, 2),
                      target_to_date=_round(to_date, 2), direction=fig["direction"], band_worst=worst,
                      joined=joined.isoformat() if joined and joined > start else None)
        if partial:
            record["member_days"] = [days.member, days.period]
        measure = scoring.kpi_attainment(fig["actual"], to_date, fig["direction"], worst)
    elif item.source == "process":
        fig = inputs.process.get(item.process, {}).get(rep, {})
        record.update(process=item.process, norm=item.norm)
        num = fig.get("num", 0.0)
        if item.process in ("reports_on_time", "visits_per_day"):
            den = float(days.to_date)
        else:
            den = fig.get("den", 0.0)
        value = num / den if den else None
        record.update(num=num, den=den, value=_round(value))
        measure = scoring.process_attainment(value, item.norm)
    else:
        answers = inputs.ratings.get((rep, item.source, str(item.id)), [])
        minimum = peer_min if item.source == "peer" else 1
        measure = scoring.rating_measure(answers, minimum)
        record["answers"] = len(answers) if item.source == "peer" else None
        record["level"] = _round(measure.level, 3)
        record["levels"] = levels
    record["attainment"] = _round(measure.attainment)
    return measure, record


# What a card needs of a template version, worked out once per version (a version never changes): its
# items with their ids as text and scale sizes, the scoring specs and the weights. The job scores a
# thousand cards with it.
Plan = tuple[list[tuple[str, Item, int]], list[scoring.DimensionSpec], dict[str, int]]
_PLANS: dict[UUID, Plan] = {}


def _plan(template: Template) -> Plan:
    plan = _PLANS.get(template.id)
    if plan is None:
        items = [(str(i.id), i, i.spec().levels) for i in template.items()]
        plan = (items, template.specs(), {key: i.weight_bp for key, i, _n in items})
        if len(_PLANS) >= 64:
            _PLANS.pop(next(iter(_PLANS)))
        _PLANS[template.id] = plan
    return plan


def card(template: Template, inputs: Inputs, rep: UUID, peer_min: int,
         memo: dict | None = None) -> tuple[scoring.Card, dict]:
    """One rep's card and its snapshot: every input, weight and result, and the formula version."""
    found: dict[str, scoring.Measure] = {}
    records: dict[str, dict] = {}
    items, specs, weights = _plan(template)
    days = member_days(inputs, rep, memo)
    for key, item, levels in items:
        found[key], records[key] = measure_item(item, inputs, rep, days, peer_min, levels)
    result = scoring.score(specs, found)
    dims = {}
    for d in result.dimensions:
        dims[d.id] = {"points": _round(d.points), "weight": _round(d.weight, 6)}
        for i in d.items:
            records[i.id].update(points=_round(i.points), weight=_round(i.weight, 6),
                                 share=_round(i.share_of_total, 6), missing=i.missing,
                                 weight_bp=weights.get(i.id, 0))
    snapshot = {"formula": scoring.FORMULA_VERSION, "period": inputs.period, "start": inputs.start.isoformat(),
                "end": inputs.end.isoformat(), "as_of": inputs.as_of.isoformat(), "template": str(template.id),
                "template_version": template.version, "peer_min": peer_min,
                "total": _round(result.total), "dimensions": dims, "items": records,
                "summary": period_summary(inputs, rep, days)}
    return result, snapshot


def period_summary(inputs: Inputs, rep: UUID, days: Days) -> dict:
    """The rep's period in counts, from the inputs already gathered for every process measure (whether or
    not the template scores them): what the manager's rating form shows one tap away."""
    located = inputs.process.get("visits_located", {}).get(rep, {})
    fresh = inputs.process.get("opportunities_fresh", {}).get(rep, {})
    return {"working_days": days.to_date, "visits": located.get("den", 0.0), "visits_located": located.get("num", 0.0),
            "reports_on_time": inputs.process.get("reports_on_time", {}).get(rep, {}).get("num", 0.0),
            "opportunities_open": fresh.get("den", 0.0), "opportunities_fresh": fresh.get("num", 0.0)}


async def cycle_reps(cycle_id: UUID) -> list[dict]:
    """The reps a cycle evaluates: the active reps of its team."""
    cycle = await EvaluationCycle.select(EvaluationCycle.team).where(EvaluationCycle.id == cycle_id).first()
    if cycle is None:
        return []
    return await User.select(User.id, User.display_name).where(
        (User.team == cycle["team"]) & (User.role == "rep") & (User.active == True)  # noqa: E712
    ).order_by(User.display_name)


async def compute(cycle_id: UUID, *, final: bool, peer_min: int, today: date | None = None,
                  only: list[UUID] | None = None, now: datetime | None = None) -> int:
    """Compute and store the scores of a cycle's reps (`only`: these reps, e.g. a re-opened score).
    Final scores already stored are left as they are unless named in `only`. Returns how many it wrote."""
    return await compute_cycles([cycle_id], final=final, peer_min=peer_min, today=today, only=only, now=now)


async def compute_cycles(cycle_ids: list[UUID], *, final: bool, peer_min: int, today: date | None = None,
                         only: list[UUID] | None = None, now: datetime | None = None) -> int:
    """`compute` for several cycles at once (the nightly job: every team's cycle of the month): the
    period's KPI and process figures are gathered once for all their reps together, so twenty teams cost
    one pass of the pace engine rather than twenty; ratings are read per cycle."""
    today = today or clock.today()
    now = now or clock.now()
    cycles = await EvaluationCycle.select().where(EvaluationCycle.id.is_in(list(cycle_ids))) if cycle_ids else []
    frozen = {(r["cycle"], r["rep"]) for r in await Score.select(Score.cycle, Score.rep).where(
        Score.cycle.is_in([c["id"] for c in cycles]) & (Score.final == True))} if cycles else set()  # noqa: E712
    work: dict[str, list[tuple[dict, Template, list[dict]]]] = {}
    for cycle in cycles:
        template = await catalogue.load(cycle["template"])
        if template is None:  # pragma: no cover - the foreign key keeps the version
            continue
        reps = await cycle_reps(cycle["id"])
        if only is not None:
            wanted = set(only)
            reps = [r for r in reps if r["id"] in wanted]
        else:
            reps = [r for r in reps if (cycle["id"], r["id"]) not in frozen]
        # Each rep on the template chosen for them when the cycle opened (members.choose).
        chosen = await members.of_cycle(cycle["id"])
        split: dict[UUID, list[dict]] = {}
        for rep in reps:
            split.setdefault(chosen.get(rep["id"], {}).get("template", template.id), []).append(rep)
        for template_id, group_reps in split.items():
            own = template if template_id == template.id else (await catalogue.load(template_id) or template)
            work.setdefault(cycle["period"], []).append((cycle, own, group_reps))
    rows = []
    for period, group in work.items():
        everyone = [r for _c, _t, reps in group for r in reps]
        codes = sorted({i.kpi_code for _c, t, _r in group for i in t.sources("kpi")})
        inputs = await measures.gather(None, period, [r["id"] for r in everyone], codes, today)
        memo: dict = {}
        for cycle, template, reps in group:
            inputs.ratings = await measures.rating_levels(cycle["id"])
            for rep in reps:
                result, snapshot = card(template, inputs, rep["id"], peer_min, memo)
                rows.append([uuid4(), cycle["id"], rep["id"], final, _round(result.total, 2), None,
                             scoring.FORMULA_VERSION, _ENCODE(snapshot), now,
                             None, ""])
    if not rows:
        return 0
    return await db.run_write(_write(rows))


def _write(rows: list[list]) -> db.Script:
    updated = ["final", "total", "formula_version", "snapshot", "computed_at"]
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        yield db.Sql(db.upsert("evaluation_score", COLUMNS, ("cycle", "rep"), updated, rows=len(chunk)),
                     db.driver_values([v for row in chunk for v in row]))
    return len(rows)
