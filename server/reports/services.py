"""Daily and weekly reports: the rep writes, submits and resubmits; the manager approves or returns.

States: draft -> submitted -> approved, or submitted -> returned -> (edited) -> submitted.
A report belongs to the rep until it is submitted; approval and the manager's comment are server-owned
fields that only the rep's manager (or an admin) writes.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

from server import clock, db, validation
from server.accounts.permissions import Actor, can_manage_rep, can_see_rep
from server.accounts.tables import User
from server.i18n import N_, _
from server.notifications import services as notifications
from server.reports.tables import KINDS, Report, ReportEvent
from server.syncing import sequence
from server.visits import services as visits
from server.web import Arrival, Conflict, FieldErrors, Result
from sync import values
from sync.protocol import TEXT_CAPS as _CAPS

TEXT_CAPS = _CAPS["report.save"]

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
    Report.device_time, Report.received_at, Report.clock_skew_s, Report.version, Report.revision,
)


def is_stale(clean: dict, existing: dict) -> bool:
    """Whether a save was based on a text other than the stored one: its base revision (or, without
    one, its base version) is not the stored report's. A save that names no base is never stale."""
    if clean.get("base_revision") is not None:
        return (clean["base_revision"] or None) != db.as_uuid(existing["revision"])
    if clean.get("base_version") is not None:
        return clean["base_version"] != existing["version"]
    return False


def period_of(kind: str, day: date) -> tuple[date, date]:
    """First and last day a report covers."""
    if kind == "weekly":
        start = clock.week_start(day)
        return start, start + timedelta(days=6)
    return day, day


def validate(data: dict) -> dict:
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {
        "id": validation.uuid(data, "id", errors, required=False),
        "kind": validation.choice(data, "kind", KINDS, errors, default="daily"),
        "period_start": validation.day(data, "period_start", errors, required=True),
    }
    for name in TEXT_FIELDS:
        clean[name] = validation.text(data, name, errors, max_len=TEXT_CAPS[name])
    # The version the text was based on (absent: an old client, no check) and the save's own id.
    clean["base_version"] = validation.integer(data, "base_version", errors, low=0, high=values.INT32_MAX)
    clean["base_revision"] = None if data.get("base_revision") is None else (
        validation.uuid(data, "base_revision", errors, required=False) or "")
    clean["revision"] = validation.uuid(data, "revision", errors, required=False)
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
        "id": uuid4(), "rep": actor.id, "kind": kind, "period_start": start, "status": "draft", "version": 0,
        "revision": None,
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
    _check_submit(clean, submit)
    return await db.run_write(save_script(actor, clean, submit, arrival or Arrival()))


def _check_submit(clean: dict, submit: bool) -> None:
    if submit and not clean["summary"] and not clean["results"]:
        raise FieldErrors({"summary": _("Write a summary or results before submitting.")})


def prepare_many(actor: Actor, items: list[tuple[UUID | None, dict, Arrival]]) -> list[Result | tuple]:
    """The part of a synced save that needs no database: each item validated, as a rejected Result or
    (clean values, submit, arrival)."""
    prepared: list[Result | tuple] = []
    for rid, data, arrival in items:
        if not actor.is_rep:
            prepared.append(Result("rejected", rid, {"": _("Only reps write reports.")}))
            continue
        submit = bool(data.get("submit"))
        try:
            clean = validate({**data, "id": str(rid)} if rid else data)
            _check_submit(clean, submit)
        except FieldErrors as e:
            prepared.append(Result("rejected", rid, e.errors))
            continue
        prepared.append((clean, submit, arrival))
    return prepared


def apply_script(actor: Actor, prepared: list[Result | tuple]) -> db.Script:
    """Synced saves inside the push's transaction, one after another (a few a day): applied, duplicate
    (the same save again), rejected or conflict, one Result per prepared item."""
    results: list[Result] = []
    for p in prepared:
        if isinstance(p, Result):
            results.append(p)
            continue
        clean, submit, arrival = p
        try:
            rid, outcome = yield from save_script(actor, clean, submit, arrival)
            results.append(Result("duplicate" if outcome == "unchanged" else "applied", rid))
        except FieldErrors as e:
            results.append(Result("rejected", clean["id"], e.errors))
        except Conflict as e:
            results.append(Result("conflict", clean["id"], {"": e.message}))
    return results


_FIND = ("SELECT id, status, summary, results, problems, plan, version, revision FROM report "
         "WHERE rep = {} AND kind = {} AND period_start = {}")
_EVENT = ("INSERT INTO report_event (id, report, actor, action, from_status, to_status, comment, at) "
          "VALUES ({}, {}, {}, {}, {}, {}, '', {})")


def save_script(actor: Actor, clean: dict, submit: bool, arrival: Arrival) -> db.Script:
    """A save as a transaction script (validated `clean` values): the same rules for the form, the JSON
    API and the reconciler. Raises FieldErrors or Conflict before writing anything."""
    now = clock.now()
    fields = {name: clean[name] for name in TEXT_FIELDS}
    key = db.driver_values([actor.id, clean["kind"], clean["period_start"]])
    existing = (yield db.Sql(_FIND, key)) or None
    if existing is None and clean["id"] is not None:
        other = yield db.Sql("SELECT rep FROM report WHERE id = {}", db.driver_values([clean["id"]]))
        if other:
            raise FieldErrors({"id": _("This identifier belongs to another record.")})
    if existing is None:
        rid = clean["id"] or uuid4()
        status = "submitted" if submit else "draft"
        seq = yield from sequence.allocate_script(1)
        columns = ("id", "rep", "kind", "period_start", "status", "submitted_at", "created_at", "updated_at",
                   "server_seq", *TEXT_FIELDS, "device_time", "received_at", "clock_skew_s", "version", "revision")
        row_values = [rid, actor.id, clean["kind"], clean["period_start"], status, now if submit else None, now, now,
                  seq, *fields.values(), arrival.device_time, arrival.received_at, arrival.clock_skew_s,
                  1, clean.get("revision") or uuid4()]
        # ON CONFLICT: the first report of the period saved meanwhile from another device (PostgreSQL):
        # nothing is inserted, and the save goes on as an edit of that report.
        inserted = yield db.Sql(db.insert_or_ignore("report", columns, ()) + " RETURNING id",
                                db.driver_values(row_values))
        if inserted:
            action = "submitted" if submit else "created"
            yield db.Sql(_EVENT, db.driver_values([uuid4(), rid, actor.id, action, "", status, now]))
            return rid, action
        existing = (yield db.Sql(_FIND, key)) or None
        if existing is None:  # the conflict was on the id: another rep's report took it meanwhile
            raise FieldErrors({"id": _("This identifier belongs to another record.")})
    row = existing[0]
    rid, before = db.as_uuid(row["id"]), row["status"]
    unchanged = all(row[name] == fields[name] for name in TEXT_FIELDS)
    if before not in EDITABLE:
        if unchanged and (submit or before == "approved"):
            return rid, "unchanged"  # the same save arriving again
        if before == "approved":
            raise Conflict(_("Your manager approved this report meanwhile; your changes were not saved."))
        raise Conflict(_("This report is submitted and waits for review; it cannot be changed now."))
    if not unchanged and is_stale(clean, row):
        # Saved from another device (or tab) since this text was loaded: keep both, the rep chooses.
        theirs = {**row, "id": rid, "revision": db.as_uuid(row["revision"])}
        raise Conflict(_("This report was changed on another device since you opened it; your text was not "
                         "saved. Both versions are shown: keep yours or theirs."), current=theirs)
    if submit:
        after, action = "submitted", ("resubmitted" if before == "returned" else "submitted")
    else:
        after, action = before, "saved"
        if unchanged:
            return rid, "unchanged"
    seq = yield from sequence.allocate_script(1)
    sets = [*TEXT_FIELDS, "device_time", "received_at", "clock_skew_s", "status", "updated_at", "server_seq",
            "version", "revision"]
    row_values = [*fields.values(), arrival.device_time, arrival.received_at, arrival.clock_skew_s, after, now, seq,
              row["version"] + 1, clean.get("revision") or uuid4()]
    if submit:
        sets.append("submitted_at")
        row_values.append(now)
    # The status and version guards make a concurrent approval or save win: zero rows updated means it
    # changed under us.
    updated = yield db.Sql(
        f"UPDATE report SET {', '.join(f'{c} = {{}}' for c in sets)} WHERE id = {{}} AND status = {{}} "
        "AND version = {} RETURNING id",
        db.driver_values([*row_values, rid, before, row["version"]]))
    if not updated:
        raise Conflict(_("This report changed meanwhile; reload it and try again."))
    yield db.Sql(_EVENT, db.driver_values([uuid4(), rid, actor.id, action, before, after, now]))
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
                Report.manager_comment: comment, Report.updated_at: now, Report.server_seq: await sequence.allocate(1),
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
        await sequence.record_deletion("report", report_id, actor.id)
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


async def next_in_queue(actor: Actor) -> UUID | None:
    """The report the actor should review next: the oldest submitted one in their queue, or None."""
    waiting = await queue(actor)
    return waiting[0]["id"] if waiting else None


async def missing_daily(actor: Actor, day: date) -> list[dict]:
    """Active reps the actor manages with no submitted or approved daily report for `day`."""
    reps = User.select(User.id, User.display_name).where((User.role == "rep") & (User.active == True))  # noqa: E712 - a Piccolo column comparison (SQL), not a truth test
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
