"""A report's thread and read receipt: the rep and their manager reply under the report; the rep sees when
the manager first opened it after it was submitted.

Who takes part: the report's rep and whoever may decide it (`can_manage_rep`: the manager of the rep's
team, or an admin). Anyone else gets LookupError (404): a report they may not read does not exist for them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from server import clock, db, validation
from server.accounts.permissions import Actor, can_manage_rep, can_see_rep
from server.i18n import _
from server.notifications import services as notifications
from server.reports import services
from server.reports.tables import Report, ReportRead, ReportReply
from server.web import FieldErrors

REPLY_MAX = 2000


def receipt_key(report_id: UUID, submitted_at: datetime) -> str:
    """One receipt per submission: a report returned and submitted again is read anew."""
    return f"{report_id}:{submitted_at.astimezone(UTC).isoformat(timespec='microseconds')}"


async def _may_take_part(actor: Actor, rep_id: UUID) -> bool:
    return rep_id == actor.id or await can_manage_rep(actor, rep_id)


async def open_report(actor: Actor, report_id: UUID, count_as_read: bool = True) -> dict | None:
    """The report as `services.get` gives it, with its thread (`replies`), whether the actor may reply
    (`can_reply`) and the read receipt of its latest submission (`read_receipt`). The first time the rep's
    manager opens it after a submission, that is recorded (not for a prefetch: `count_as_read` False)."""
    row = await services.get(actor, report_id)
    if row is None:
        return None
    rep_id = row["rep"]
    if count_as_read and row["submitted_at"] and row["status"] != "draft" and rep_id != actor.id \
            and await can_manage_rep(actor, rep_id):
        await ReportRead.raw(
            db.insert_or_ignore("report_read", ("id", "report", "reader", "receipt_key", "read_at"), ("receipt_key",)),
            uuid4(), report_id, actor.id, receipt_key(report_id, row["submitted_at"]), clock.now())
    row["read_receipt"] = None
    if row["submitted_at"]:
        row["read_receipt"] = await ReportRead.select(
            ReportRead.read_at, ReportRead.reader.display_name.as_alias("reader_name"),
        ).where(ReportRead.receipt_key == receipt_key(report_id, row["submitted_at"])).first()
    row["replies"] = await ReportReply.select(
        ReportReply.id, ReportReply.body, ReportReply.created_at, ReportReply.author,
        ReportReply.author.display_name.as_alias("author_name"),
    ).where(ReportReply.report == report_id).order_by(ReportReply.created_at)
    row["can_reply"] = await _may_take_part(actor, rep_id)
    return row


async def reply(actor: Actor, report_id: UUID, data: dict) -> UUID:
    """Add the actor's reply under a report and tell the other side. LookupError for a report the actor
    may not read or take part in; FieldErrors for an empty or too long reply."""
    row = await Report.select(Report.id, Report.rep, Report.kind, Report.period_start).where(
        Report.id == report_id).first()
    if row is None or not await can_see_rep(actor, row["rep"]) or not await _may_take_part(actor, row["rep"]):
        raise LookupError(report_id)
    errors: dict[str, str] = {}
    body = validation.text(data, "body", errors, max_len=REPLY_MAX)
    if not body and not errors:
        errors["body"] = _("Write your reply first.")
    if errors:
        raise FieldErrors(errors)
    reply_id = uuid4()
    await ReportReply.insert(ReportReply(id=reply_id, report=report_id, author=actor.id, body=body,
                                         created_at=clock.now()))
    await notifications.report_replied(row, reply_id, body, actor)
    return reply_id
