"""Evaluation cycles: opening one (with its raters), peers chosen by the manager, the states
open -> rating -> calibration -> published -> acknowledged, the rating forms, calibration, re-opening,
acknowledgement, and the audit log of all of it.

Who may do what: a manager the cycles of the teams they lead, admin every cycle; a rater only the forms
assigned to them (someone else's answers 404); a rep their own published scorecard. Peer answers are
read only as an aggregate (measures.rating_levels) and only from the threshold up; no function here
returns who gave which peer answer.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from uuid import UUID, uuid4

from litestar.exceptions import NotFoundException

from server import clock, db, validation
from server.accounts.permissions import Actor, require_role
from server.accounts.tables import Team, TeamManager, User
from server.evaluation import catalogue, members, scores
from server.evaluation.tables import (
    CYCLE_KINDS,
    CalibrationAdjustment,
    EvaluationAudit,
    EvaluationCycle,
    PeerNomination,
    RaterAssignment,
    Score,
    ScorecardTemplate,
)
from server.i18n import _
from server.notifications.services import NewNotification, notify
from server.targets import formulas
from server.web import Conflict, FieldErrors

NEXT_STATE = {"open": "rating", "rating": "calibration", "calibration": "published"}
REASON_MAX = 1000


async def audit(actor: Actor | None, action: str, cycle: UUID | None = None, score: UUID | None = None,
                **detail: object) -> None:
    await EvaluationAudit.insert(EvaluationAudit(
        id=uuid4(), cycle=cycle, score=score, actor=actor.id if actor and actor.id.int else None, action=action,
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str), at=clock.now()))


def _may_lead(actor: Actor, team: UUID) -> bool:
    return actor.is_admin or (actor.is_manager and team in actor.led_team_ids)


async def cycle_for(actor: Actor, cycle_id: UUID) -> dict:
    """A cycle a manager leads or admin sees; reps 403, anyone else's 404."""
    require_role(actor, "manager", "admin")
    row = await EvaluationCycle.select().where(EvaluationCycle.id == cycle_id).first()
    if row is None or not _may_lead(actor, row["team"]):
        raise NotFoundException()
    return row


async def cycles(actor: Actor) -> list[dict]:
    require_role(actor, "manager", "admin")
    query = EvaluationCycle.select(
        *EvaluationCycle.all_columns(), EvaluationCycle.team.name.as_alias("team_name"),
        EvaluationCycle.template.name_zh.as_alias("template_zh"), EvaluationCycle.template.name_en.as_alias("template_en"),
    ).order_by(EvaluationCycle.opened_at, ascending=False)
    if not actor.is_admin:
        if not actor.led_team_ids:
            return []
        query = query.where(EvaluationCycle.team.is_in(list(actor.led_team_ids)))
    return await query


async def team_choices(actor: Actor) -> list[dict]:
    query = Team.select(Team.id, Team.name).order_by(Team.name)
    if not actor.is_admin:
        if not actor.led_team_ids:
            return []
        query = query.where(Team.id.is_in(list(actor.led_team_ids)))
    return await query


async def default_template(team: UUID) -> UUID | None:
    """The template a team's cycle starts with unless the manager picks another: the current template
    scoped to that team, else the ready field-rep template (or the first current one for all teams)."""
    rows = await ScorecardTemplate.select(ScorecardTemplate.id, ScorecardTemplate.team, ScorecardTemplate.code).where(
        (ScorecardTemplate.current == True) & ((ScorecardTemplate.team == team) | ScorecardTemplate.team.is_null())  # noqa: E712
    ).order_by(ScorecardTemplate.code)
    ranked = sorted(rows, key=lambda r: (r["team"] is None, r["code"] != "field"))
    return ranked[0]["id"] if ranked else None


async def open_cycle(actor: Actor, data: dict) -> UUID:
    """Open a cycle for a team and a period on the current version of a template, and assign its raters:
    each rep's manager(s) and the rep themself (peers are chosen next, by the manager). Each rep is given
    the template that applies to them (members.choose: their team's, their kind's, else this one)."""
    require_role(actor, "manager", "admin")
    errors: dict[str, str] = {}
    kind = validation.choice(data, "kind", CYCLE_KINDS, errors, default="month")
    period = str(data.get("period") or "").strip()
    try:
        period_kind, _start, end = formulas.parse_period(period)
        if period_kind != kind:
            errors["period"] = _("The period does not match the cycle's kind (e.g. 2026-03, 2026-Q1, 2026).")
    except ValueError:
        errors["period"] = _("Enter a period such as 2026-03, 2026-Q1 or 2026.")
        end = clock.today()
    team = validation.uuid(data, "team", errors, required=False)
    template_id = validation.uuid(data, "template", errors, required=False)
    if team is None:
        errors.setdefault("team", _("Choose a team."))
    elif not _may_lead(actor, team) or not await Team.exists().where(Team.id == team):
        errors["team"] = _("Choose one of your teams.")
    if template_id is None and team is not None and "team" not in errors:
        template_id = await default_template(team)
    if template_id is None:
        errors.setdefault("template", _("Choose a scorecard template."))
    else:
        template = await ScorecardTemplate.select(ScorecardTemplate.id, ScorecardTemplate.team).where(
            (ScorecardTemplate.id == template_id) & (ScorecardTemplate.current == True)).first()  # noqa: E712
        if template is None:
            errors["template"] = _("Choose a scorecard template.")
        elif template["team"] is not None and template["team"] != team:
            errors["template"] = _("This template applies to another team: choose one for this team or for all teams.")
    guide = str(data.get("guide") or "").strip()
    if guide and scores.scoring.parse_guide(guide) is None:
        errors["guide"] = _("A guide is three whole percentages that add up to 100, e.g. 20/70/10.")
    if errors:
        raise FieldErrors(errors)
    assert team is not None and template_id is not None
    if await EvaluationCycle.exists().where((EvaluationCycle.team == team) & (EvaluationCycle.kind == kind)
                                            & (EvaluationCycle.period == period)):
        raise FieldErrors({"period": _("This team has a cycle for this period already.")})
    cycle_id = uuid4()
    reps = await User.select(User.id).where((User.team == team) & (User.role == "rep") & (User.active == True))  # noqa: E712
    managers = [m["manager"] for m in await TeamManager.select(TeamManager.manager).where(TeamManager.team == team)]
    if actor.is_manager and actor.id not in managers:
        managers.append(actor.id)
    if not managers:
        managers = [actor.id]
    now = clock.now()
    chosen = await members.assign(cycle_id, team, template_id, [r["id"] for r in reps])
    async with db.write_transaction():
        await EvaluationCycle.insert(EvaluationCycle(
            id=cycle_id, template=template_id, team=team, kind=kind, period=period, state="open", guide=guide,
            rating_due=end + timedelta(days=5), opened_by=actor.id, opened_at=now))
        if chosen:
            await members.EvaluationMember.insert(*chosen)
        rows = []
        for rep in reps:
            rows.append(RaterAssignment(id=uuid4(), cycle=cycle_id, ratee=rep["id"], rater=rep["id"], role="self"))
            rows += [RaterAssignment(id=uuid4(), cycle=cycle_id, ratee=rep["id"], rater=m, role="manager")
                     for m in managers]
        if rows:
            await RaterAssignment.insert(*rows)
        await audit(actor, "opened", cycle_id, period=period, template=str(template_id),
                    templates=sorted({str(m.template) for m in chosen}))
    return cycle_id


async def assignments(cycle_id: UUID) -> list[dict]:
    """The cycle's assignments with names: for the manager's page (peers' names as chosen raters, never
    beside an answer)."""
    return await RaterAssignment.select(
        RaterAssignment.id, RaterAssignment.ratee, RaterAssignment.rater, RaterAssignment.role,
        RaterAssignment.submitted_at, RaterAssignment.ratee.display_name.as_alias("ratee_name"),
        RaterAssignment.rater.display_name.as_alias("rater_name"),
    ).where(RaterAssignment.cycle == cycle_id).order_by(RaterAssignment.ratee.display_name)


async def nomination_cycles(actor: Actor) -> list[dict]:
    """The open cycles the signed-in rep is evaluated in: where they may nominate their peers."""
    if not actor.is_rep:
        return []
    return await EvaluationCycle.select(EvaluationCycle.id, EvaluationCycle.period).where(
        (EvaluationCycle.state == "open") & EvaluationCycle.id.is_in(
            RaterAssignment.select(RaterAssignment.cycle).where(
                (RaterAssignment.rater == actor.id) & (RaterAssignment.role == "self")))
    ).order_by(EvaluationCycle.period)


async def nomination_for(actor: Actor, cycle_id: UUID) -> dict:
    """A rep's nomination page: only for a cycle they are evaluated in (anyone else's cycle 404), with
    their teammates and the peers they proposed."""
    require_role(actor, "rep")
    cycle = await EvaluationCycle.select().where(EvaluationCycle.id == cycle_id).first()
    if cycle is None or not await RaterAssignment.exists().where(
            (RaterAssignment.cycle == cycle_id) & (RaterAssignment.rater == actor.id)
            & (RaterAssignment.role == "self")):
        raise NotFoundException()
    mates = [r for r in await scores.cycle_reps(cycle_id) if r["id"] != actor.id]
    rows = await PeerNomination.select(PeerNomination.peer, PeerNomination.decision).where(
        (PeerNomination.cycle == cycle_id) & (PeerNomination.ratee == actor.id))
    return {"cycle": cycle, "mates": mates, "nominated": {r["peer"] for r in rows},
            "decision": rows[0]["decision"] if rows else ""}


async def nominate(actor: Actor, cycle_id: UUID, peers: list[UUID]) -> None:
    """The rep proposes peers for themself, while the cycle is open, among their teammates in the cycle;
    proposing again replaces the earlier proposal until the manager decided."""
    page = await nomination_for(actor, cycle_id)
    if page["cycle"]["state"] != "open":
        raise Conflict(_("Peers can be nominated only while the cycle is open."))
    if page["decision"]:
        raise Conflict(_("Your manager decided on your peers already."))
    mates = {m["id"] for m in page["mates"]}
    wanted = list(dict.fromkeys(peers))
    if any(p not in mates for p in wanted):
        raise FieldErrors({"peer": _("Peers are colleagues of the same team.")})
    now = clock.now()
    async with db.write_transaction():
        await PeerNomination.delete().where((PeerNomination.cycle == cycle_id) & (PeerNomination.ratee == actor.id))
        if wanted:
            await PeerNomination.insert(*[PeerNomination(id=uuid4(), cycle=cycle_id, ratee=actor.id, peer=p,
                                                         nominated_at=now, decision="") for p in wanted])
        await audit(actor, "nominated", cycle_id, rep=str(actor.id), count=len(wanted))


async def nominations(cycle_id: UUID) -> dict[UUID, dict]:
    """Each rep's proposed peers and the manager's decision, for the cycle's page."""
    out: dict[UUID, dict] = {}
    for r in await PeerNomination.select(PeerNomination.ratee, PeerNomination.peer, PeerNomination.decision).where(
            PeerNomination.cycle == cycle_id):
        entry = out.setdefault(r["ratee"], {"peers": [], "decision": r["decision"]})
        entry["peers"].append(r["peer"])
    return out


async def approve_nomination(actor: Actor, cycle_id: UUID, rep: UUID) -> None:
    """The manager (their teams) or admin approves the rep's proposed peers: they become the rep's peers."""
    await cycle_for(actor, cycle_id)
    proposed = (await nominations(cycle_id)).get(rep)
    if proposed is None:
        raise NotFoundException()
    await set_peers(actor, cycle_id, rep, proposed["peers"], decision="approved")


async def set_peers(actor: Actor, cycle_id: UUID, rep: UUID, peers: list[UUID], decision: str = "replaced") -> None:
    """The manager chooses a rep's peers (reps of the same team, not the rep), while the cycle is open or
    rating; a rep's own proposal, if any, is thereby approved or replaced. Peers already answered stay."""
    cycle = await cycle_for(actor, cycle_id)
    if cycle["state"] not in ("open", "rating"):
        raise Conflict(_("Peers can be chosen only while the cycle is open or rating."))
    team_reps = {r["id"] for r in await scores.cycle_reps(cycle_id)}
    if rep not in team_reps:
        raise NotFoundException()
    wanted = [p for p in dict.fromkeys(peers) if p in team_reps and p != rep]
    if len(wanted) != len(set(peers) - {rep}) and any(p not in team_reps for p in peers):
        raise FieldErrors({"peer": _("Peers are colleagues of the same team.")})
    current = await RaterAssignment.select(RaterAssignment.id, RaterAssignment.rater, RaterAssignment.submitted_at).where(
        (RaterAssignment.cycle == cycle_id) & (RaterAssignment.ratee == rep) & (RaterAssignment.role == "peer"))
    async with db.write_transaction():
        for a in current:
            if a["rater"] not in wanted and a["submitted_at"] is None:
                await RaterAssignment.delete().where(RaterAssignment.id == a["id"])
        have = {a["rater"] for a in current}
        new = [RaterAssignment(id=uuid4(), cycle=cycle_id, ratee=rep, rater=p, role="peer") for p in wanted
               if p not in have]
        if new:
            await RaterAssignment.insert(*new)
        await PeerNomination.update({PeerNomination.decision: decision}).where(
            (PeerNomination.cycle == cycle_id) & (PeerNomination.ratee == rep))
        await audit(actor, "peers", cycle_id, rep=str(rep), count=len(wanted), decision=decision)
    if cycle["state"] == "rating" and new:
        await _notify_due(cycle, [a.rater for a in new])


async def _notify_due(cycle: dict, raters: list[UUID]) -> None:
    await notify([NewNotification(recipient=r, kind="evaluation_due", rule="evaluation", subject=str(cycle["id"]),
                                  period=cycle["period"], level="due", url="/evaluation",
                                  params={"period": cycle["period"],
                                          "due": cycle["rating_due"].isoformat() if cycle["rating_due"] else ""})
                  for r in dict.fromkeys(raters)])


async def advance(actor: Actor, cycle_id: UUID, expected: str, settings_peer_min: int) -> str:
    """Move a cycle to its next state; `expected` is the state the button was shown for (a stale page is
    a Conflict). rating -> calibration computes the final scores; calibration -> published tells each rep."""
    cycle = await cycle_for(actor, cycle_id)
    if cycle["state"] != expected or expected not in NEXT_STATE:
        raise Conflict(_("This cycle changed meanwhile: reload the page."))
    target = NEXT_STATE[expected]
    now = clock.now()
    if target == "calibration":
        await close(cycle, settings_peer_min, actor)
        return target
    changes: dict = {EvaluationCycle.state: target}
    if target == "published":
        changes[EvaluationCycle.published_at] = now
    updated = await EvaluationCycle.update(changes).where(
        (EvaluationCycle.id == cycle_id) & (EvaluationCycle.state == expected)).returning(EvaluationCycle.id)
    if not updated:
        raise Conflict(_("This cycle changed meanwhile: reload the page."))
    await audit(actor, target, cycle_id)
    if target == "rating":
        raters = [a["rater"] for a in await RaterAssignment.select(RaterAssignment.rater).where(
            RaterAssignment.cycle == cycle_id)]
        await _notify_due(cycle, raters)
    elif target == "published":
        rows = await Score.select(Score.id, Score.rep).where(Score.cycle == cycle_id)
        await notify([NewNotification(recipient=r["rep"], kind="evaluation_published", rule="evaluation",
                                      subject=str(cycle_id), period=cycle["period"], level="published",
                                      url=f"/evaluation/scores/{r['id']}", params={"period": cycle["period"]})
                      for r in rows])
    return target


async def close(cycle: dict, peer_min: int, actor: Actor | None, today: date | None = None) -> int:
    """Close rating: compute every rep's final score (frozen from now on) and move to calibration."""
    updated = await EvaluationCycle.update({EvaluationCycle.state: "calibration", EvaluationCycle.closed_at: clock.now()}).where(
        (EvaluationCycle.id == cycle["id"]) & (EvaluationCycle.state == "rating")).returning(EvaluationCycle.id)
    if not updated:
        return 0
    written = await scores.compute(cycle["id"], final=True, peer_min=peer_min, today=today,
                                   only=[r["id"] for r in await scores.cycle_reps(cycle["id"])])
    await audit(actor, "closed", cycle["id"], scores=written)
    return written


def _reason(data: dict) -> str:
    errors: dict[str, str] = {}
    reason = validation.text(data, "reason", errors, required=True, max_len=REASON_MAX)
    if errors:
        raise FieldErrors({"reason": _("Give the reason: it is logged and shown with the score.")})
    return reason


async def score_row(score_id: UUID) -> dict | None:
    return await Score.select(
        *Score.all_columns(), Score.cycle.team.as_alias("team"), Score.cycle.state.as_alias("state"),
        Score.cycle.period.as_alias("period"), Score.cycle.template.as_alias("template"),
        Score.cycle.guide.as_alias("guide"), Score.rep.display_name.as_alias("rep_name"),
    ).where(Score.id == score_id).first()


async def adjust(actor: Actor, score_id: UUID, data: dict) -> None:
    """Calibration: a manager (their teams) or admin sets a final score, with a required reason."""
    require_role(actor, "manager", "admin")
    row = await score_row(score_id)
    if row is None or not _may_lead(actor, row["team"]):
        raise NotFoundException()
    if row["state"] != "calibration":
        raise Conflict(_("Scores are calibrated while the cycle is in calibration."))
    errors: dict[str, str] = {}
    value = validation.number(data, "score", errors, low=0, high=100)
    if value is None:
        errors.setdefault("score", _("Enter a score from 0 to 100."))
    reason = ""
    try:
        reason = _reason(data)
    except FieldErrors as e:
        errors.update(e.errors)
    if errors:
        raise FieldErrors(errors)
    before = row["calibrated"] if row["calibrated"] is not None else row["total"]
    after = round(float(value or 0), 2)
    async with db.write_transaction():
        await Score.update({Score.calibrated: after}).where(Score.id == score_id)
        await CalibrationAdjustment.insert(CalibrationAdjustment(
            id=uuid4(), score=score_id, adjusted_by=actor.id, before=before, after=after, reason=reason, at=clock.now()))
        await audit(actor, "calibrated", row["cycle"], score_id, before=before, after=after, reason=reason)


async def reopen(actor: Actor, score_id: UUID, data: dict, peer_min: int) -> None:
    """Admin only, with a reason: compute a final score again from today's data (e.g. after an order
    was corrected). The old and new totals and the reason are logged."""
    require_role(actor, "admin")
    row = await score_row(score_id)
    if row is None:
        raise NotFoundException()
    if row["state"] not in ("calibration", "published", "acknowledged"):
        raise Conflict(_("Only a final score can be re-opened."))
    reason = _reason(data)
    await scores.compute(row["cycle"], final=True, peer_min=peer_min, only=[row["rep"]])
    fresh = await Score.select(Score.total).where(Score.id == score_id).first()
    await Score.update({Score.acknowledged_at: None}).where(Score.id == score_id)
    await audit(actor, "reopened", row["cycle"], score_id, before=row["total"], after=fresh and fresh["total"],
                reason=reason)


async def acknowledge(actor: Actor, score_id: UUID, data: dict) -> None:
    """The rep reads and acknowledges their published score, with an optional reply; when every rep of the
    cycle has, the cycle is acknowledged."""
    row = await score_row(score_id)
    if row is None or row["rep"] != actor.id or row["state"] not in ("published", "acknowledged"):
        raise NotFoundException()
    errors: dict[str, str] = {}
    reply = validation.text(data, "reply", errors, max_len=REASON_MAX)
    if errors:
        raise FieldErrors(errors)
    await Score.update({Score.acknowledged_at: clock.now(), Score.reply: reply}).where(Score.id == score_id)
    await audit(actor, "acknowledged", row["cycle"], score_id, reply=bool(reply))
    waiting = await Score.exists().where((Score.cycle == row["cycle"]) & Score.acknowledged_at.is_null())
    if not waiting:
        done = await EvaluationCycle.update({EvaluationCycle.state: "acknowledged"}).where(
            (EvaluationCycle.id == row["cycle"]) & (EvaluationCycle.state == "published")).returning(EvaluationCycle.id)
        if done:
            await audit(actor, "acknowledged_all", row["cycle"])


async def history(score_id: UUID) -> list[dict]:
    """The score's calibration adjustments and re-opens (reasons shown to the rep)."""
    return await EvaluationAudit.select(EvaluationAudit.action, EvaluationAudit.detail, EvaluationAudit.at).where(
        (EvaluationAudit.score == score_id) & EvaluationAudit.action.is_in(["calibrated", "reopened"])
    ).order_by(EvaluationAudit.at)


async def cycle_template(cycle: dict) -> catalogue.Template:
    template = await catalogue.load(cycle["template"])
    if template is None:  # pragma: no cover - restricted foreign key
        raise NotFoundException()
    return template

