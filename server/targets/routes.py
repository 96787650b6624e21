"""KPI catalogue, pace settings and work calendar, target plans: pages and actions. Handlers are thin:
the subject modules (kpis, calendar, plans, grid, splits) check roles and ownership and own every query."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, Router, get, post
from litestar.exceptions import NotFoundException

from server.accounts.permissions import Actor, require_role
from server.i18n import _
from server.targets import actuals, calendar, formulas, grid, kpis, org, plans, revisions, splits
from server.targets.tables import DIRECTIONS, KINDS, UNITS
from server.targets.values import fmt_plain
from server.validation import optional_uuid
from server.web import XLSX_TYPE, Conflict, FieldErrors, attachment, csv_download, flash, form_data, is_htmx, page, redirect

LABELS: dict[str, Any] = {
    "unit_labels": actuals.UNIT_LABELS, "direction_labels": actuals.DIRECTION_LABELS,
    "kind_labels": actuals.KIND_LABELS, "source_labels": actuals.SOURCE_LABELS, "field_labels": actuals.FIELD_LABELS,
    "status_labels": plans.STATUS_LABELS, "period_methods": splits.PERIOD_METHODS,
    "org_methods": splits.ORG_METHODS, "sources": actuals.SOURCES, "units": UNITS, "directions": DIRECTIONS,
    "kinds": KINDS, "fmt_plain": fmt_plain,
    "filter_fields": sorted({f for spec in actuals.SOURCES.values() for f in spec["filters"]}),
}


# --- KPI catalogue ---------------------------------------------------------------------------------


async def _catalogue(actor: Actor, values: dict, errors: dict, status_code: int = 200):
    return page("targets/kpis.html", status_code=status_code, actor=actor, kpis=await kpis.kpi_catalogue(),
                values=values, errors=errors, **LABELS)


@get("/kpis")
async def kpi_list(actor: Actor) -> object:
    return await _catalogue(actor, {"unit": "count", "direction": "higher", "kind": "sum", "source": "visits",
                                    "measure": "count"}, {})


@post("/kpis")
async def kpi_create(request: Request, actor: Actor) -> object:
    require_role(actor, "admin")
    data = await form_data(request)
    try:
        await kpis.create_kpi(actor, data)
    except FieldErrors as e:
        return await _catalogue(actor, data, e.errors, 422)
    flash(request, _("KPI “%(name)s” added.", name=data.get("name", "")))
    return redirect("/kpis", request)


@get("/kpis/{kpi_id:uuid}")
async def kpi_edit(actor: Actor, kpi_id: UUID) -> object:
    require_role(actor, "admin")
    kpi = await kpis.kpi_get(kpi_id)
    if kpi is None:
        raise NotFoundException()
    return page("targets/kpi.html", actor=actor, kpi=kpi, values=kpis.kpi_form_values(kpi), errors={}, **LABELS)


@post("/kpis/{kpi_id:uuid}")
async def kpi_update(request: Request, actor: Actor, kpi_id: UUID) -> object:
    require_role(actor, "admin")
    data = await form_data(request)
    try:
        await kpis.update_kpi(actor, kpi_id, data)
    except FieldErrors as e:
        kpi = await kpis.kpi_get(kpi_id)
        return page("targets/kpi.html", status_code=422, actor=actor, kpi=kpi, values=data, errors=e.errors, **LABELS)
    flash(request, _("KPI saved."))
    return redirect("/kpis", request)


@post("/kpis/{kpi_id:uuid}/active")
async def kpi_active(request: Request, actor: Actor, kpi_id: UUID) -> object:
    require_role(actor, "admin")
    data = await form_data(request)
    active = data.get("active") == "1"
    kpi = await kpis.set_kpi_active(actor, kpi_id, active)
    flash(request, _("%(name)s is active again.", name=kpi.label) if active
          else _("%(name)s is deactivated.", name=kpi.label))
    return redirect("/kpis", request)


# --- Pace thresholds and the work calendar --------------------------------------------------------


async def _settings(actor: Actor, errors: dict | None = None, values: dict | None = None,
                    day_values: dict | None = None, day_errors: dict | None = None, status_code: int = 200):
    current = await calendar.thresholds()
    return page(
        "targets/settings.html", status_code=status_code, actor=actor, days=await calendar.calendar_days(actor),
        values=values or {"on_track_min": fmt_plain(current.on_track_min, 2),
                          "at_risk_min": fmt_plain(current.at_risk_min, 2)},
        errors=errors or {}, day_values=day_values or {"working": "holiday"}, day_errors=day_errors or {},
    )


@get("/kpis/settings")
async def settings_page(actor: Actor) -> object:
    require_role(actor, "admin")
    return await _settings(actor)


@post("/kpis/settings")
async def settings_save(request: Request, actor: Actor) -> object:
    require_role(actor, "admin")
    data = await form_data(request)
    try:
        await calendar.save_thresholds(actor, data)
    except FieldErrors as e:
        return await _settings(actor, e.errors, data, status_code=422)
    flash(request, _("Pace thresholds saved."))
    return redirect("/kpis/settings", request)


@post("/kpis/settings/calendar")
async def calendar_add(request: Request, actor: Actor) -> object:
    require_role(actor, "admin")
    data = await form_data(request)
    try:
        day = await calendar.add_calendar_day(actor, data)
    except FieldErrors as e:
        return await _settings(actor, day_values=data, day_errors=e.errors, status_code=422)
    flash(request, _("%(day)s added to the work calendar.", day=day.isoformat()))
    return redirect("/kpis/settings", request)


@post("/kpis/settings/calendar/{day_id:uuid}/delete")
async def calendar_remove(request: Request, actor: Actor, day_id: UUID) -> object:
    require_role(actor, "admin")
    if not await calendar.remove_calendar_day(actor, day_id):
        raise NotFoundException()
    flash(request, _("Day removed from the work calendar."))
    return redirect("/kpis/settings", request)


# --- Plans ------------------------------------------------------------------------------------------


async def _plans(actor: Actor, values: dict, errors: dict, status_code: int = 200):
    return page("targets/plans.html", status_code=status_code, actor=actor, plans=await plans.plans(actor),
                kpis=await actuals.kpis(active_only=True) if actor.is_admin else [], values=values, errors=errors,
                **LABELS)


@get("/targets")
async def plan_list(actor: Actor) -> object:
    require_role(actor, "manager", "admin")
    from server import clock

    return await _plans(actor, {"year": str(clock.today().year + (1 if clock.today().month >= 10 else 0))}, {})


@post("/targets")
async def plan_create(request: Request, actor: Actor) -> object:
    require_role(actor, "admin")
    data = await form_data(request)
    try:
        pid = await plans.create_plan(actor, data)
    except FieldErrors as e:
        return await _plans(actor, data, e.errors, 422)
    flash(request, _("Plan created. Split the company's targets by period and by team below."))
    return redirect(f"/targets/{pid}", request)


def _period_labels(year: int) -> dict[str, str]:
    from datetime import date

    from server.i18n import fmt_date

    labels = {formulas.year_code(year): _("Year")}
    for q in range(1, 5):
        labels[formulas.quarter_code(year, q)] = f"Q{q}"
    for m in range(1, 13):
        labels[formulas.month_code(year, m)] = fmt_date(date(year, m, 1), "MMM")
    return labels


async def _grid_page(actor: Actor, plan_id: UUID, kpi: str, *, fragment: bool = False, status_code: int = 200,
                     cell_errors: dict | None = None, typed: dict | None = None, errors: dict | None = None,
                     mismatch_list: list | None = None, team: object = None):
    data = await grid.grid(actor, plan_id, kpi, team=optional_uuid(team))
    template = "targets/_grid.html" if fragment else "targets/plan.html"
    return page(template, status_code=status_code, actor=actor, **data, labels=_period_labels(data["plan"]["year"]),
                cell_errors=cell_errors or {}, typed=typed or {}, errors=errors or {},
                mismatch_list=mismatch_list or [], add_kpis=[k for k in await actuals.kpis() if k not in data["kpis"]],
                **LABELS)


@get("/targets/{plan_id:uuid}")
async def plan_detail(request: Request, actor: Actor, plan_id: UUID, kpi: str = "", team: str = "") -> object:
    require_role(actor, "manager", "admin")
    return await _grid_page(actor, plan_id, kpi, fragment=is_htmx(request) and request.headers.get("hx-target") == "grid",
                            team=team)


@get("/targets/{plan_id:uuid}/cell")
async def cell_page(actor: Actor, plan_id: UUID, kpi: str = "", period: str = "", scope_kind: str = "",
                    scope_id: str = "") -> object:
    require_role(actor, "manager", "admin")
    data = await grid.cell_view(actor, plan_id, kpi, period, scope_kind, scope_id)
    return page("targets/cell.html", actor=actor, **data, labels=_period_labels(data["plan"]["year"]),
                values={"value": data["cell"].input}, errors={}, **LABELS)


@post("/targets/{plan_id:uuid}/cells")
async def cell_save(request: Request, actor: Actor, plan_id: UUID) -> object:
    require_role(actor, "manager", "admin")
    data = await form_data(request)
    try:
        saved = await plans.set_cell(actor, plan_id, data)
    except FieldErrors as e:
        kpi = await kpis.kpi_get(optional_uuid(data.get("kpi")))
        code = kpi.code if kpi else ""
        if is_htmx(request) or data.get("from") != "cell":
            key = (data.get("period", ""), f"{data.get('scope_kind', '')}:{data.get('scope_id', '')}")
            message = "; ".join(e.errors.values())
            return await _grid_page(actor, plan_id, code, fragment=is_htmx(request), status_code=422,
                                    cell_errors={key: message}, typed={key: data.get("value", "")},
                                    errors={"": message} if not is_htmx(request) else {}, team=data.get("view_team"))
        view = await grid.cell_view(actor, plan_id, data.get("kpi", ""), data.get("period", ""),
                                        data.get("scope_kind", ""), data.get("scope_id", ""))
        return page("targets/cell.html", status_code=422, actor=actor, **view,
                    labels=_period_labels(view["plan"]["year"]), values=data, errors=e.errors, **LABELS)
    code = saved["kpi"].code
    view_team = optional_uuid(data.get("view_team"))
    if is_htmx(request):
        return await _grid_page(actor, plan_id, code, fragment=True, team=view_team)
    flash(request, _("Target saved."))
    team_query = f"&team={view_team}" if view_team else ""
    return redirect(f"/targets/{plan_id}?kpi={code}{team_query}#row-{org.scope_key(saved['scope'])}", request)



@get("/targets/{plan_id:uuid}/split")
async def split_page(actor: Actor, plan_id: UUID, kpi: str = "", scope_kind: str = "", scope_id: str = "") -> object:
    require_role(actor, "manager", "admin")
    view = await splits.split_view(actor, plan_id, kpi, scope_kind, scope_id)
    return page("targets/split.html", actor=actor, **view, labels=_period_labels(view["plan"]["year"]),
                values={"method": "equal", "org_method": "equal", "period": "all"}, errors={}, **LABELS)


async def _split(request: Request, actor: Actor, plan_id: UUID, how: str) -> object:
    require_role(actor, "manager", "admin")
    data = await form_data(request)
    try:
        if how == "period":
            message = await splits.split_by_period(actor, plan_id, data)
        else:
            message = await splits.split_by_org(actor, plan_id, data)
    except FieldErrors as e:
        kpi = await kpis.kpi_get(optional_uuid(data.get("kpi")))
        view = await splits.split_view(actor, plan_id, kpi.code if kpi else "", data.get("scope_kind", ""),
                                         data.get("scope_id", ""))
        values = dict(data) if how == "period" else {**data, "org_method": data.get("method", "equal"), "method": "equal"}
        return page("targets/split.html", status_code=422, actor=actor, **view, form=how,
                    labels=_period_labels(view["plan"]["year"]), values=values, errors=e.errors, **LABELS)
    kpi = await kpis.kpi_get(optional_uuid(data.get("kpi")))
    flash(request, message)
    return redirect(f"/targets/{plan_id}?kpi={kpi.code if kpi else ''}", request)


@post("/targets/{plan_id:uuid}/split/period")
async def split_period(request: Request, actor: Actor, plan_id: UUID) -> object:
    return await _split(request, actor, plan_id, "period")


@post("/targets/{plan_id:uuid}/split/org")
async def split_org(request: Request, actor: Actor, plan_id: UUID) -> object:
    return await _split(request, actor, plan_id, "org")


@post("/targets/{plan_id:uuid}/approve")
async def plan_approve(request: Request, actor: Actor, plan_id: UUID) -> object:
    require_role(actor, "admin")
    data = await form_data(request)
    try:
        await plans.approve(actor, plan_id)
    except Conflict as e:
        found = getattr(e, "found", [])
        return await _grid_page(actor, plan_id, data.get("kpi", ""), status_code=409, errors={"": e.message},
                                mismatch_list=found)
    flash(request, _("Plan approved. It is now locked: changes need an admin and a reason, and are recorded."))
    return redirect(f"/targets/{plan_id}", request)


@get("/targets/{plan_id:uuid}/export")
async def plan_export(actor: Actor, plan_id: UUID) -> object:
    """The plan's targets as CSV (the rows the actor may read)."""
    require_role(actor, "manager", "admin")
    name, header, rows = await revisions.export(actor, plan_id)
    return csv_download(name, header, rows)


@get("/targets/{plan_id:uuid}/export.xlsx")
async def plan_export_xlsx(actor: Actor, plan_id: UUID) -> object:
    """The plan's targets as XLSX: the CSV's rows, targets as numbers (the rows the actor may read)."""
    require_role(actor, "manager", "admin")
    name, content = await revisions.export_xlsx(actor, plan_id)
    return attachment(name, content, XLSX_TYPE, "export.xlsx")


async def _new_plan(request: Request, actor: Actor, plan_id: UUID, how: str) -> object:
    require_role(actor, "admin")
    data = await form_data(request)
    try:
        if how == "copy":
            new_id = await revisions.copy_plan(actor, plan_id, data)
        else:
            new_id = await revisions.revise(actor, plan_id, data)
    except FieldErrors as e:
        return await _grid_page(actor, plan_id, data.get("kpi", ""), status_code=422, errors=e.errors,
                                typed={f"{how}_{k}": v for k, v in data.items()})
    flash(request, _("Plan copied: adjust it, then approve it.") if how == "copy" else
          _("Revision drafted: once approved it takes over from its date; the approved plan stays for the months before."))
    return redirect(f"/targets/{new_id}", request)


@post("/targets/{plan_id:uuid}/copy")
async def plan_copy(request: Request, actor: Actor, plan_id: UUID) -> object:
    """Start a new year's plan from this one."""
    return await _new_plan(request, actor, plan_id, "copy")


@post("/targets/{plan_id:uuid}/revise")
async def plan_revise(request: Request, actor: Actor, plan_id: UUID) -> object:
    """Draft a revision of an approved plan that takes over from a date."""
    return await _new_plan(request, actor, plan_id, "revise")


@get("/targets/{plan_id:uuid}/changes")
async def plan_changes(actor: Actor, plan_id: UUID) -> object:
    require_role(actor, "manager", "admin")
    data = await plans.changes(actor, plan_id)
    return page("targets/changes.html", actor=actor, **data, labels=_period_labels(data["plan"]["year"]), **LABELS)


router = Router(
    path="/",
    route_handlers=[
        kpi_list, kpi_create, kpi_edit, kpi_update, kpi_active, settings_page, settings_save, calendar_add,
        calendar_remove, plan_list, plan_create, plan_detail, cell_page, cell_save, split_page, split_period,
        split_org, plan_approve, plan_changes, plan_export, plan_export_xlsx, plan_copy, plan_revise,
    ],
)
