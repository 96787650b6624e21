"""Evaluation pages: the hub, opening a cycle, a cycle (raters, states, ranking), the rating forms, the
calibration view, a rep's scorecard with acknowledgement, re-opening a score (admin)."""

from __future__ import annotations

import asyncio
from uuid import UUID

from litestar import Request, Response, Router, get, post
from litestar.datastructures import State

from server.accounts.permissions import Actor, require_role
from server.evaluation import catalogue, editor, members, ratings, services, views
from server.evaluation.tables import PROCESSES
from server.i18n import _
from server.validation import optional_uuid
from server.web import FieldErrors, flash, form_data, page, redirect


@get("/evaluation")
async def evaluation_hub(actor: Actor) -> object:
    context = await views.hub(actor)
    parts = await views.latest_parts(context["mine"]) if actor.is_rep else []
    return page("evaluation/hub.html", **context, parts=parts, labels=views.STATE_LABELS)


async def _new_context(actor: Actor, values: dict, errors: dict) -> dict:
    teams = await services.team_choices(actor)
    return {"teams": teams, "team_names": {t["id"]: t["name"] for t in teams},
            "templates": [t for t in await catalogue.current_templates() if t["team"] is None
                          or any(t["team"] == team["id"] for team in teams)],
            "values": values, "errors": errors, "name": catalogue.local}


@get("/evaluation/templates")
async def template_list(actor: Actor) -> object:
    require_role(actor, "admin")
    return page("evaluation/templates.html", templates=await catalogue.current_templates(), name=catalogue.local,
                kind_labels=members.KIND_LABELS)


async def _editor(actor: Actor, template_id: UUID, values: dict | None, errors: dict, status: int = 200) -> object:
    template = await editor.template_for(actor, template_id)
    return page("evaluation/template_edit.html", tpl=template, values=values or editor.form_values(template),
                errors=errors, teams=await services.team_choices(actor), kpis=await editor.kpi_choices(),
                levels=editor.ANCHOR_LEVELS, min_levels=editor.MIN_LEVELS, max_levels=editor.MAX_LEVELS,
                processes=PROCESSES, sources=views.SOURCE_LABELS,
                process_labels=views.PROCESS_LABELS, kind_labels=members.KIND_LABELS, status_code=status)


@get("/evaluation/templates/{template_id:uuid}")
async def template_edit(actor: Actor, template_id: UUID) -> object:
    return await _editor(actor, template_id, None, {})


@post("/evaluation/templates/{template_id:uuid}")
async def template_save(request: Request, actor: Actor, template_id: UUID) -> object:
    data = await form_data(request)
    try:
        new_id = await editor.save(actor, template_id, data)
    except FieldErrors as e:
        return await _editor(actor, template_id, data, e.errors, 422)
    flash(request, _("Saved as a new version: cycles already open keep the version they started with."))
    return redirect(f"/evaluation/templates/{new_id}", request)


@get("/evaluation/cycles/new")
async def cycle_new(actor: Actor) -> object:
    require_role(actor, "manager", "admin")
    return page("evaluation/cycle_new.html", **await _new_context(actor, {"kind": "month"}, {}))


@post("/evaluation/cycles")
async def cycle_create(request: Request, actor: Actor) -> object:
    require_role(actor, "manager", "admin")
    data = await form_data(request)
    try:
        cycle_id = await services.open_cycle(actor, data)
    except FieldErrors as e:
        return page("evaluation/cycle_new.html", **await _new_context(actor, data, e.errors), status_code=422)
    flash(request, _("Cycle opened: choose each rep's peers, then start the rating."))
    return redirect(f"/evaluation/cycles/{cycle_id}", request)


@get("/evaluation/cycles/{cycle_id:uuid}")
async def cycle_detail(actor: Actor, cycle_id: UUID, sort: str = "") -> object:
    return page("evaluation/cycle.html", **await views.cycle_page(actor, cycle_id, sort), labels=views.STATE_LABELS)


@post("/evaluation/cycles/{cycle_id:uuid}/peers")
async def cycle_peers(request: Request, actor: Actor, cycle_id: UUID) -> object:
    form = await request.form()
    rep = optional_uuid(form.get("rep"))
    peers = _uuids(form, "peer")
    if rep is None:
        raise FieldErrors({"rep": _("Choose a rep.")})
    await services.set_peers(actor, cycle_id, rep, peers)
    flash(request, _("Peers saved."))
    return redirect(f"/evaluation/cycles/{cycle_id}", request)


def _uuids(form, name: str) -> list[UUID]:
    return [p for p in (optional_uuid(v) for v in form.getall(name)) if p is not None] if name in form else []


@get("/evaluation/cycles/{cycle_id:uuid}/nominate")
async def nomination_show(actor: Actor, cycle_id: UUID) -> object:
    return page("evaluation/nominate.html", **await services.nomination_for(actor, cycle_id), errors={})


@post("/evaluation/cycles/{cycle_id:uuid}/nominate")
async def nomination_save(request: Request, actor: Actor, cycle_id: UUID) -> object:
    peers = _uuids(await request.form(), "peer")
    try:
        await services.nominate(actor, cycle_id, peers)
    except FieldErrors as e:
        context = await services.nomination_for(actor, cycle_id)
        return page("evaluation/nominate.html", **{**context, "nominated": set(peers)}, errors=e.errors,
                    status_code=422)
    flash(request, _("Your proposal is sent: your manager approves it or chooses other peers."))
    return redirect("/evaluation", request)


@post("/evaluation/cycles/{cycle_id:uuid}/nominations/approve")
async def nomination_approve(request: Request, actor: Actor, cycle_id: UUID) -> object:
    rep = optional_uuid((await form_data(request)).get("rep"))
    if rep is None:
        raise FieldErrors({"rep": _("Choose a rep.")})
    await services.approve_nomination(actor, cycle_id, rep)
    flash(request, _("The rep's proposed peers are approved."))
    return redirect(f"/evaluation/cycles/{cycle_id}", request)


@post("/evaluation/cycles/{cycle_id:uuid}/advance")
async def cycle_advance(request: Request, actor: Actor, state: State, cycle_id: UUID) -> object:
    data = await form_data(request)
    target = await services.advance(actor, cycle_id, data.get("state", ""), state.settings.evaluation_peer_min)
    flash(request, _("The cycle is now: %(state)s.", state=_(views.STATE_LABELS[target])))
    return redirect(f"/evaluation/cycles/{cycle_id}", request)


@get("/evaluation/cycles/{cycle_id:uuid}/calibration")
async def cycle_calibration(actor: Actor, cycle_id: UUID) -> object:
    context = await views.calibration(actor, cycle_id)
    return page("evaluation/calibration.html", **context, chart=views.distribution_chart(context["values"]),
                grades=views.GRADE_LABELS, errors={})


@get("/evaluation/forms/{assignment_id:uuid}")
async def form_show(actor: Actor, assignment_id: UUID) -> object:
    return page("evaluation/form.html", **await views.form_page(actor, assignment_id), errors={}, typed=None,
                missing=views.MISSING_LABELS, process_labels=views.PROCESS_LABELS)


@post("/evaluation/forms/{assignment_id:uuid}")
async def form_save(request: Request, actor: Actor, assignment_id: UUID) -> object:
    data = await form_data(request)
    submit = data.get("action") == "submit"
    try:
        await ratings.save(actor, assignment_id, data, submit)
    except FieldErrors as e:
        return page("evaluation/form.html", **await views.form_page(actor, assignment_id), errors=e.errors, typed=data,
                    missing=views.MISSING_LABELS, process_labels=views.PROCESS_LABELS, status_code=422)
    flash(request, _("Ratings submitted. Thank you.") if submit else _("Draft saved."))
    return redirect("/evaluation" if submit else f"/evaluation/forms/{assignment_id}", request)


@get("/evaluation/scores/{score_id:uuid}")
async def score_show(actor: Actor, state: State, score_id: UUID) -> object:
    return page("evaluation/scorecard.html",
                **await views.scorecard(actor, score_id, state.settings.evaluation_reps_see_ranking),
                missing=views.MISSING_LABELS, sources=views.SOURCE_LABELS, process_labels=views.PROCESS_LABELS,
                errors={})


@get("/evaluation/scores/{score_id:uuid}/print")
async def score_print(actor: Actor, state: State, score_id: UUID) -> object:
    """The scorecard with every item open, for printing on A4 (the print stylesheet)."""
    return page("evaluation/scorecard.html",
                **await views.scorecard(actor, score_id, state.settings.evaluation_reps_see_ranking),
                missing=views.MISSING_LABELS, sources=views.SOURCE_LABELS, process_labels=views.PROCESS_LABELS,
                errors={}, printing=True)


@get("/evaluation/scores/{score_id:uuid}/report.pdf")
async def score_pdf(actor: Actor, state: State, score_id: UUID) -> Response:
    from server.evaluation import report  # ReportLab loads on the first report, not at start-up

    context = await views.scorecard(actor, score_id, state.settings.evaluation_reps_see_ranking)
    content = await asyncio.to_thread(report.build, context, views.MISSING_LABELS)
    name = f"scorecard-{context['snap'].get('period', '')}.pdf"
    return Response(content, media_type="application/pdf",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


@post("/evaluation/scores/{score_id:uuid}/acknowledge")
async def score_acknowledge(request: Request, actor: Actor, score_id: UUID) -> object:
    await services.acknowledge(actor, score_id, await form_data(request))
    flash(request, _("Acknowledged. Your manager sees your reply."))
    return redirect(f"/evaluation/scores/{score_id}", request)


@post("/evaluation/scores/{score_id:uuid}/adjust")
async def score_adjust(request: Request, actor: Actor, score_id: UUID) -> object:
    row = await services.score_row(score_id)
    await services.adjust(actor, score_id, await form_data(request))
    flash(request, _("Score adjusted; the reason is logged and shown to the rep."))
    return redirect(f"/evaluation/cycles/{row['cycle'] if row else ''}/calibration", request)


@post("/evaluation/scores/{score_id:uuid}/reopen")
async def score_reopen(request: Request, actor: Actor, state: State, score_id: UUID) -> object:
    await services.reopen(actor, score_id, await form_data(request), state.settings.evaluation_peer_min)
    flash(request, _("Score re-opened and computed again from today's data; the reason is logged."))
    return redirect(f"/evaluation/scores/{score_id}", request)


router = Router(path="/", route_handlers=[
    evaluation_hub, template_list, template_edit, template_save, cycle_new, cycle_create, cycle_detail, cycle_peers,
    nomination_show, nomination_save, nomination_approve, cycle_advance, cycle_calibration, form_show, form_save,
    score_show, score_print, score_pdf, score_acknowledge, score_adjust, score_reopen])
