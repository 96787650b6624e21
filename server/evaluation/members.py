"""Which template each rep of a cycle is evaluated on. A template applies to every rep, to one kind of
rep (`User.rep_kind`: field or key account), to one team, or to one kind within one team. Opening a
cycle gives each rep the most specific current template that applies to them: their team's (of their
kind, then of any kind), else their kind's, else the cycle's own template (the default); the choice and
its reason are kept per rep (`EvaluationMember`), so later template edits change nothing for the cycle.

Cycles opened before these rows existed have none: every rep is on the cycle's template."""

from __future__ import annotations

from uuid import UUID, uuid4

from server.accounts.tables import User
from server.evaluation import catalogue
from server.evaluation.tables import EvaluationMember, ScorecardTemplate
from server.i18n import N_

BASIS_LABELS = {"team": N_("the template for this team"), "kind": N_("the template for this kind of rep"),
                "default": N_("the cycle's template")}
KIND_LABELS = {"field": N_("Field rep"), "key_account": N_("Key account rep")}


def choose(rep_kind: str, team: UUID, candidates: list[dict], fallback: UUID) -> tuple[UUID, str]:
    """(template id, basis) for one rep among the current templates `candidates` (dicts with id, code,
    team, rep_kind): team and kind, then team, then kind, then `fallback` (the cycle's template). Ties go
    to the lowest code, so the choice does not depend on the rows' order."""
    ranked = []
    for t in sorted(candidates, key=lambda t: t["code"]):
        kind_ok = t["rep_kind"] in ("", rep_kind)
        if t["team"] is not None and t["team"] == team and kind_ok:
            ranked.append((0 if t["rep_kind"] else 1, t["id"], "team"))
        elif t["team"] is None and t["rep_kind"] and t["rep_kind"] == rep_kind:
            ranked.append((2, t["id"], "kind"))
    if not ranked:
        return fallback, "default"
    _rank, template_id, basis = min(ranked, key=lambda r: r[0])
    return template_id, basis


async def assign(cycle_id: UUID, team: UUID, fallback: UUID, reps: list[UUID]) -> list[EvaluationMember]:
    """The member rows of a cycle being opened (inserted by the caller, in its transaction)."""
    if not reps:
        return []
    candidates = await ScorecardTemplate.select(
        ScorecardTemplate.id, ScorecardTemplate.code, ScorecardTemplate.team, ScorecardTemplate.rep_kind).where(
        ScorecardTemplate.current == True)  # noqa: E712
    kinds = {r["id"]: r["rep_kind"] for r in await User.select(User.id, User.rep_kind).where(User.id.is_in(reps))}
    rows = []
    for rep in reps:
        template_id, basis = choose(kinds.get(rep, "field"), team, candidates, fallback)
        rows.append(EvaluationMember(id=uuid4(), cycle=cycle_id, rep=rep, template=template_id, basis=basis))
    return rows


async def of_cycle(cycle_id: UUID) -> dict[UUID, dict]:
    """rep -> {"template": id, "basis": ...} for a cycle ({} for one opened before per-rep templates)."""
    rows = await EvaluationMember.select(EvaluationMember.rep, EvaluationMember.template, EvaluationMember.basis).where(
        EvaluationMember.cycle == cycle_id)
    return {r["rep"]: {"template": r["template"], "basis": r["basis"]} for r in rows}


async def template_id(cycle: dict, rep: UUID) -> UUID:
    """The template version `rep` is evaluated on in `cycle`."""
    row = await EvaluationMember.select(EvaluationMember.template).where(
        (EvaluationMember.cycle == cycle["id"]) & (EvaluationMember.rep == rep)).first()
    return row["template"] if row else cycle["template"]


async def rep_template(cycle: dict, rep: UUID) -> catalogue.Template:
    template = await catalogue.load(await template_id(cycle, rep))
    if template is None:  # pragma: no cover - restricted foreign key
        template = await catalogue.load(cycle["template"])
    assert template is not None
    return template
