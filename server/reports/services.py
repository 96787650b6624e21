"""Daily and weekly reports: the rep writes, submits and resubmits; the manager approves or returns.

States: draft -> submitted -> approved, or submitted -> returned -> (edited) -> submitted.
A report belongs to the rep until it is submitted; approval and the manager's comment are server-owned
fields that only the rep's manager (or an admin) writes.
"""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID, uuid4

from server import changes, clock, db, validation
from server.accounts.permissions import Actor, can_manage_rep, can_see_rep
from server.accounts.tables import User
from server.i18n import N_, _
from server.notifications import services as notifications
from server.reports.tables import KINDS, Report, ReportEvent
from server.visits import services as visits
from server.web import Arrival, Conflict, FieldErrors

EDITABLE = ("draft", "returned")
TEXT_FIELDS = ("summary", "results", "problems", "plan")
STATUS_LABELS = {
    "draft": N_("Draft"),
    "submitted": N_("Submitted"),
    "returned": N_("Returned"),
    "approved": N_("Approved"),
}
ACTION_LABELS = {
    "created": N_("Created"),
    "saved": N_("Saved"),
    "submitted": N_("Submitted"),
    "resubmitted": N_("Resubmitted"),
    "returned": N_("Returned"),
    "approved": N_("Approved"),
}
KIND_LABELS = {"daily": N_("Daily report"), "weekly": N_("Weekly report")}

COLUMNS = (
    Report.id, Report.rep, Report.kind, Report.period_start, Report.summary, Report.results, Report.problems,
    Report.plan, Report.status, Report.submitted_at, Report.decided_at, Report.manager_comment, Report.updated_at,
    Report.device_time, Report.received_at, Report.clock_skew_s,
)


def period_of(kind: str, day: date) -> tuple[date, date]:
    """First and last day a report covers."""
    if kind == "weekly":
        start = clock.week_start(day)
        return start, start + timedelta(days=6)
    return day, day


def validate(data: dict) -> dict:
    errors: dict[str, str] = {}
    clean = {
        "id": validation.uuid(data, "id", errors, required=False),
        "kind": validation.choice(data, "kind", KINDS, errors, default="daily"),
        "period_start": validation.day(data, "period_start", errors, required=True),
    }
    for name in TEXT_FIELDS:
        clean[name] = validation.text(data, name, errors, max_len=10_000)
    if clean["period_start"] and clean["period_start"] > clock.today() + timedelta(days=1):
        errors["period_start"] = _("A report cannot be for a future day.")
    if errors:
        raise FieldErrors(errors)
    clean["period_start"] = period_of(clean["kind"], clean["period_start"])[0]
    return clean


async def _event(report_id: UUID, actor: Actor, action: str, before: str, after: str, comment: str = "") -> None:
    await ReportEvent.insert(
        ReportEvent(
            id=uuid4(), report=report_id, actor=actor.id, action=action, from_status=before, to_status=after,
            comment=comment, at=clock.now(),
        )
    )


async def find(rep_id: UUID, kind: str, period_start: date) -> dict | None:
    return await Report.select(*COLUMNS).where(
        (Report.rep == rep_id) & (Report.kind == kind) & (Report.period_start == period_start)
    ).first()


async def draft_for(actor: Actor, kind: str, day: date) -> dict:
    """The rep's report for a period, or a new unsaved draft prefilled from that period's visits."""
    start, end = period_of(kind, day)
    existing = await find(actor.id, kind, start)
    if existing:
        return existing
    period_visits = await visits.for_rep_range(actor.id, start, end)
    return {
        "id": uuid4(), "rep": actor.id, "kind": kind, "period_start": start, "status": "draft",
        "summary": visits.summary_lines(period_visits), "results": "", "problems": "", "plan": "",
        "manager_comment": "", "new": True,
    }


async def save(actor: Actor, data: dict, submit: bool, arrival: Arrival | None = None) -> tuple[UUID, str]:
    """Save the rep's report (and submit it when asked). Idempotent: the same save twice is one report.

    A report is identified by (rep, kind, period); a second id for the same period updates the first.
    Raises Conflict when the report is submitted or approved, so the rep's text is never overwritten
    silently and never lost: the caller keeps it and shows it.
    Returns (id, outcome) where outcome is "created", "saved", "submitted", "resubmitted" or "unchanged".
    """
    if not actor.is_rep:
        raise FieldErrors({"": _("Only reps write reports.")})
    clean = validate(data)
    async with db.write_transaction():
        return await _save(actor, clean, submit, arrival or Arrival())


async def _save(actor: Actor, clean: dict, submit: bool, arrival: Arrival) -> tuple[UUID, str]:
    now = clock.now()
    fields = {name: clean[name] for name in TEXT_FIELDS}
    sync_fields = {"device_time": arrival.device_time, "received_at": arrival.received_at,
                   "clock_skew_s": arrival.clock_skew_s}
    existing = await find(actor.id, clean["kind"], clean["period_start"])
    if existing is None and clean["id"] is not None:
        other = await Report.select(Report.rep).where(Report.id == clean["id"]).first()
        if other:
            raise FieldErrors({"id": _("This identifier belongs to another record.")})
    if submit and not fields["summary"] and not fields["results"]:
        raise FieldErrors({"summary": _("Write a summary or results before submitting.")})

    if existing is None:
        rid = clean["id"] or uuid4()
        status = "submitted" if submit else "draft"
        await Report.insert(
            Report(
                id=rid, rep=actor.id, kind=clean["kind"], period_start=clean["period_start"], status=status,
                submitted_at=now if submit else None, created_at=now, updated_at=now,
                server_seq=await changes.allocate(1), **fields, **sync_fields,
            )
        )
        await _event(rid, actor, "submitted" if submit else "created", "", status)
        return rid, "submitted" if submit else "created"

    rid, before = existing["id"], existing["status"]
    unchanged = all(existing[name] == fields[name] for name in TEXT_FIELDS)
    if before not in EDITABLE:
        if unchanged and (submit or before == "approved"):
            return rid, "unchanged"  # the same save arriving again
        if before == "approved":
            raise Conflict(_("Your manager approved this report meanwhile; your changes were not saved."))
        raise Conflict(_("This report is submitted and waits for review; it cannot be changed now."))
    if submit:
        after, action = "submitted", ("resubmitted" if before == "returned" else "submitted")
    else:
        after, action = before, "saved"
        if unchanged:
            return rid, "unchanged"
    values = {getattr(Report, k): v for k, v in {**fields, **sync_fields}.items()}
    values.update({Report.status: after, Report.updated_at: now, Report.server_seq: await changes.allocate(1)})
    if submit:
        values[Report.submitted_at] = now
    # The status guard makes a concurrent approval win: zero rows updated means it changed under us.
    updated = await Report.update(values).where((Report.id == rid) & (Report.status == before)).returning(Report.id)
    if not updated:
        raise Conflict(_("This report changed meanwhile; reload it and try again."))
    await _event(rid, actor, action, before, after)
    return rid, action


async def decide(actor: Actor, report_id: UUID, approve: bool, comment: str) -> str:
    """Approve, or return with a comment, a submitted report of a rep the actor manages."""
    row = await Report.select(Report.id, Report.rep, Report.status).where(Report.id == report_id).first()
    if not row or not await can_see_rep(actor, row["rep"]):
        raise LookupError(report_id)
    if not await can_manage_rep(actor, row["rep"]):
        raise PermissionError(report_id)
    comment = comment.strip()
    if len(comment) > 5000:
        raise FieldErrors({"comment": _("At most %(n)s characters.", n=5000)})
    if not approve and not comment:
        raise FieldErrors({"comment": _("Tell the rep what to change: a comment is required to return a report.")})
    if row["status"] != "submitted":
        raise Conflict(_("This report is no longer waiting for review."))
    after = "approved" if approve else "returned"
    now = clock.now()
    async with db.write_transaction():
        updated = await Report.update(
            {
                Report.status: after, Report.decided_at: now, Report.decided_by: actor.id,
                Report.manager_comment: comment, Report.updated_at: now, Report.server_seq: await changes.allocate(1),
            }
        ).where((Report.id == report_id) & (Report.status == "submitted")).returning(Report.id)
        if not updated:
            raise Conflict(_("This report is no longer waiting for review."))
        await _event(report_id, actor, after, "submitted", after, comment)
    await notifications.report_decided(report_id, after, comment, actor)  # feedback to the rep, at once
    return after


async def delete_draft(actor: Actor, report_id: UUID) -> bool:
    """Delete the rep's own draft; devices holding a copy get a deletion marker. False if not a draft."""
    async with db.write_transaction():
        owned = await Report.exists().where(
            (Report.id == report_id) & (Report.rep == actor.id) & (Report.status == "draft")
        )
        if not owned:
            return False
        await ReportEvent.delete().where(ReportEvent.report == report_id)
        deleted = await Report.delete().where(
            (Report.id == report_id) & (Report.rep == actor.id) & (Report.status == "draft")
        ).returning(Report.id)
        if not deleted:
            return False
        await changes.record_deletion("report", report_id, actor.id)
    return True


async def get(actor: Actor, report_id: UUID) -> dict | None:
    """A report the actor may see, with the rep's name, its history and the period's visits."""
    row = await Report.select(*COLUMNS, Report.rep.display_name.as_alias("rep_name")).where(
        Report.id == report_id
    ).first()
    if not row or not await can_see_rep(actor, row["rep"]):
        return None
    start, end = period_of(row["kind"], row["period_start"])
    row["period_end"] = end
    row["events"] = await ReportEvent.select(
        ReportEvent.action, ReportEvent.from_status, ReportEvent.to_status, ReportEvent.comment, ReportEvent.at,
        ReportEvent.actor.display_name.as_alias("actor_name"),
    ).where(ReportEvent.report == report_id).order_by(ReportEvent.at)
    row["visits"] = await visits.for_rep_range(row["rep"], start, end)
    row["can_decide"] = row["status"] == "submitted" and await can_manage_rep(actor, row["rep"])
    row["can_edit"] = row["rep"] == actor.id and row["status"] in EDITABLE
    return row


async def for_rep(actor: Actor, limit: int = 60) -> list[dict]:
    return await Report.select(*COLUMNS).where(Report.rep == actor.id).order_by(
        Report.period_start, ascending=False
    ).limit(limit)


async def queue(actor: Actor) -> list[dict]:
    """Submitted reports waiting for this manager (or any, for admin), oldest first."""
    if not (actor.is_admin or actor.led_team_ids):
        return []  # a rep (or a manager of no team) reviews nobody's reports
    query = Report.select(
        Report.id, Report.rep, Report.kind, Report.period_start, Report.submitted_at, Report.summary,
        Report.rep.display_name.as_alias("rep_name"),
    ).where((Report.status == "submitted") & (Report.rep != actor.id))
    if not actor.is_admin:
        # The reps of the teams they lead, as visible_rep_ids() says, joined here rather than asked first.
        query = query.where(Report.rep.team.is_in(list(actor.led_team_ids)))
    return await query.order_by(Report.submitted_at).limit(200)


async def missing_daily(actor: Actor, day: date) -> list[dict]:
    """Active reps the actor manages with no submitted or approved daily report for `day`."""
    reps = User.select(User.id, User.display_name).where((User.role == "rep") & (User.active == True))  # noqa: E712
    # Who the actor may read, as visible_rep_ids() says, in this query rather than one of its own.
    if actor.is_manager:
        if not actor.led_team_ids:
            return []
        reps = reps.where(User.team.is_in(list(actor.led_team_ids)))
    elif not actor.is_admin:
        reps = reps.where(User.id == actor.id)
    rows = await reps.order_by(User.display_name)
    if not rows:
        return []
    # The status is checked here, not in SQL: with `status IN (...)` in the WHERE, SQLite (no ANALYZE) walks
    # the (status, submitted_at) index over every approved report instead of the (rep, kind, period) one.
    done = await Report.select(Report.rep, Report.status).where(
        (Report.kind == "daily") & (Report.period_start == day) & Report.rep.is_in([r["id"] for r in rows])
    )
    done_ids = {d["rep"] for d in done if d["status"] in ("submitted", "approved")}
    return [r for r in rows if r["id"] not in done_ids]
