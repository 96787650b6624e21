"""Report pages for reps (write, submit, resubmit) and managers (queue, approve, return), and the API."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

from litestar import Request, Router, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException

from server import clock
from server.accounts.permissions import Actor, require_role
from server.i18n import _
from server.middleware import is_prefetch
from server.reports import services, thread
from server.reports.tables import KINDS
from server.visits import services as visits
from server.web import Conflict, FieldErrors, flash, form_data, is_htmx, page, redirect

LABELS: dict[str, Any] = {
    "status_labels": services.STATUS_LABELS,
    "kind_labels": services.KIND_LABELS,
    "action_labels": services.ACTION_LABELS,
    "purpose_labels": visits.PURPOSE_LABELS,
}


def _form(actor: Actor, report: dict, errors: dict, status_code: int = 200, conflict: str = "",
          theirs: dict | None = None):
    _start, end = services.period_of(report["kind"], report["period_start"])
    return page(
        "reports/form.html", status_code=status_code, actor=actor, report=report, errors=errors,
        conflict=conflict, theirs=theirs, period_end=end, new_revision=uuid4(), **LABELS,
        # The prefill's purpose names, for the visits the phone adds to it offline (outbox.js).
        purpose_names={key: _(label) for key, label in visits.PURPOSE_LABELS.items()},
    )


@get("/reports")
async def report_list(actor: Actor) -> object:
    if not actor.is_rep:
        return redirect("/manager/queue")
    today = clock.today()
    return page(
        "reports/list.html", actor=actor, reports=await services.for_rep(actor), today=today,
        week=clock.week_start(today), **LABELS,
    )


@get("/reports/{kind:str}/{day:date}")
async def report_edit(actor: Actor, kind: str, day: date) -> object:
    require_role(actor, "rep")
    if kind not in KINDS:
        raise NotFoundException()
    report = await services.draft_for(actor, kind, day)
    if report["status"] not in services.EDITABLE:
        return redirect(f"/reports/{report['id']}")
    return _form(actor, report, {})


@post("/reports")
async def report_save(request: Request, actor: Actor) -> object:
    require_role(actor, "rep")
    data = await form_data(request)
    submit = data.pop("action", "save") == "submit"
    try:
        rid, outcome = await services.save(actor, data, submit)
    except (FieldErrors, Conflict) as e:
        # Keep every word the rep typed: the form comes back with their text, not the stored one.
        kept: dict[str, Any] = {
            "id": data.get("id", ""), "kind": data.get("kind", "daily"), "status": data.get("status", "draft"),
            "manager_comment": data.get("manager_comment", ""), **{k: data.get(k, "") for k in services.TEXT_FIELDS},
        }
        try:
            kept["period_start"] = date.fromisoformat(data.get("period_start", ""))
        except ValueError:
            kept["period_start"] = clock.today()
        if kept["kind"] not in KINDS:
            kept["kind"] = "daily"
        kept["version"], kept["revision"] = data.get("base_version", ""), data.get("base_revision", "")
        if isinstance(e, Conflict):
            theirs = e.current
            if theirs:
                # Saving this form again keeps the rep's text: it is now based on the stored version.
                kept["version"], kept["revision"] = theirs["version"], theirs["revision"] or ""
                kept["status"] = theirs["status"]
            return _form(actor, kept, {}, status_code=409, conflict=e.message, theirs=theirs)
        return _form(actor, kept, e.errors, status_code=422)
    messages = {
        "submitted": _("Report submitted. Your manager will review it."),
        "resubmitted": _("Report resubmitted. Your manager will review it again."),
    }
    flash(request, messages.get(outcome, _("Draft saved.")))
    return redirect(f"/reports/{rid}" if submit else f"/reports/{data.get('kind', 'daily')}/{data.get('period_start')}", request)


@get("/reports/{report_id:uuid}")
async def report_detail(request: Request, actor: Actor, report_id: UUID) -> object:
    # A prefetch by the service worker is not the manager reading it.
    row = await thread.open_report(actor, report_id, count_as_read=not is_prefetch(request.scope))
    if not row:
        raise NotFoundException()
    return page("reports/detail.html", actor=actor, report=row, errors={}, values={}, **LABELS)


@post("/reports/{report_id:uuid}/replies")
async def report_reply(request: Request, actor: Actor, report_id: UUID) -> object:
    data = await form_data(request)
    try:
        await thread.reply(actor, report_id, data)
    except LookupError:
        raise NotFoundException() from None
    except FieldErrors as e:
        row = await thread.open_report(actor, report_id, count_as_read=False)
        if not row:
            raise NotFoundException() from None
        return page("reports/detail.html", status_code=422, actor=actor, report=row, errors=e.errors,
                    values={"body": data.get("body", "")}, **LABELS)
    flash(request, _("Reply sent."))
    return redirect(f"/reports/{report_id}#thread", request)


async def _decide(request: Request, actor: Actor, report_id: UUID, approve: bool) -> object:
    require_role(actor, "manager", "admin")
    data = await form_data(request)
    comment = data.get("comment", "")
    try:
        outcome = await services.decide(actor, report_id, approve, comment)
    except LookupError:
        raise NotFoundException() from None
    except PermissionError:
        raise PermissionDeniedException() from None
    except (FieldErrors, Conflict) as e:
        row = await thread.open_report(actor, report_id, count_as_read=False)
        errors = e.errors if isinstance(e, FieldErrors) else {"": e.message}
        status = 422 if isinstance(e, FieldErrors) else 409
        template = "reports/_decision.html" if is_htmx(request) else "reports/detail.html"
        return page(template, status_code=status, actor=actor, report=row, errors=errors, values={"comment": comment}, **LABELS)
    done = _("Report approved.") if outcome == "approved" else _("Report returned to the rep with your comment.")
    # On to the next report waiting (oldest first), or back to the queue when none is left.
    following = await services.next_in_queue(actor)
    if following is None:
        flash(request, done + " " + _("No more reports are waiting for review."))
        return redirect("/manager/queue", request)
    flash(request, done + " " + _("Here is the next one."))
    return redirect(f"/reports/{following}", request)


@post("/reports/{report_id:uuid}/approve")
async def report_approve(request: Request, actor: Actor, report_id: UUID) -> object:
    return await _decide(request, actor, report_id, approve=True)


@post("/reports/{report_id:uuid}/return")
async def report_return(request: Request, actor: Actor, report_id: UUID) -> object:
    return await _decide(request, actor, report_id, approve=False)


@post("/reports/{report_id:uuid}/delete")
async def report_delete(request: Request, actor: Actor, report_id: UUID) -> object:
    require_role(actor, "rep")
    if not await services.delete_draft(actor, report_id):
        raise NotFoundException()
    flash(request, _("Draft deleted."))
    return redirect("/reports", request)


@get("/manager/queue")
async def manager_queue(actor: Actor) -> object:
    require_role(actor, "manager", "admin")
    yesterday = clock.today() - timedelta(days=1)
    return page(
        "reports/queue.html", actor=actor, queue=await services.queue(actor),
        missing=await services.missing_daily(actor, yesterday), missing_day=yesterday, **LABELS,
    )


@get("/api/v1/reports")
async def api_reports(actor: Actor) -> dict:
    if actor.is_rep:
        return {"reports": await services.for_rep(actor)}
    return {"reports": await services.queue(actor)}


@post("/api/v1/reports", status_code=200)
async def api_report_save(actor: Actor, data: dict) -> dict:
    if not actor.is_rep:
        raise FieldErrors({"": _("Only reps write reports.")})
    submit = bool(data.get("submit", False))
    rid, outcome = await services.save(actor, data, submit)
    return {"id": str(rid), "result": "duplicate" if outcome == "unchanged" else "applied", "outcome": outcome}


@get("/api/v1/reports/{report_id:uuid}")
async def api_report(actor: Actor, report_id: UUID) -> dict:
    row = await services.get(actor, report_id)
    if not row:
        raise NotFoundException()
    return row


@post("/api/v1/reports/{report_id:uuid}/decision", status_code=200)
async def api_report_decide(actor: Actor, report_id: UUID, data: dict) -> dict:
    require_role(actor, "manager", "admin")
    approve = data.get("decision") == "approve"
    if data.get("decision") not in ("approve", "return"):
        raise FieldErrors({"decision": _("Choose one of the options.")})
    comment = data.get("comment", "")
    if not isinstance(comment, str):
        raise FieldErrors({"comment": _("This field is required.")})
    try:
        status = await services.decide(actor, report_id, approve, comment)
    except LookupError:
        raise NotFoundException() from None
    except PermissionError:
        raise PermissionDeniedException() from None
    return {"id": str(report_id), "status": status}


router = Router(
    path="/",
    route_handlers=[
        report_list, report_edit, report_save, report_detail, report_approve, report_return, report_delete, manager_queue,
        report_reply,
        api_reports, api_report_save, api_report, api_report_decide,
    ],
)
