"""The KPI catalogue: built-in and custom KPIs, their definitions from the admin's form.

Every KPI's measurement is in server/targets/actuals.py; this module checks, names and stores definitions."""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from uuid import UUID, uuid4

from litestar.exceptions import NotFoundException, PermissionDeniedException

from server import clock, db, validation
from server.accounts.permissions import Actor, require_role
from server.i18n import _
from server.targets import actuals
from server.targets.tables import DIRECTIONS, KINDS, UNITS, Kpi
from server.targets.values import fmt_plain, parse_value
from server.web import FieldErrors

# --- KPI catalogue ---------------------------------------------------------------------------


async def kpi_catalogue() -> list[actuals.KpiDef]:
    """Every KPI, active first (everyone signed in may read the catalogue)."""
    return sorted(await actuals.kpis(active_only=False), key=lambda k: (not k.active, k.position, k.code))


async def kpi_get(kpi_id: UUID | None) -> actuals.KpiDef | None:
    if kpi_id is None:
        return None
    for kpi in await actuals.kpis(active_only=False):
        if kpi.id == kpi_id:
            return kpi
    return None


def slug(name: str) -> str:
    """An ASCII code from a KPI's name ("Demo visits" -> "demo_visits"); "" when nothing ASCII is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    code = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    return code[:32].strip("_")


def validate_kpi(data: dict) -> dict[str, Any]:
    """A custom KPI's definition from a form: every choice from the whitelists of actuals.SOURCES."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {
        "name": validation.text(data, "name", errors, required=True, max_len=100),
        "unit": validation.choice(data, "unit", UNITS, errors, default="count"),
        "direction": validation.choice(data, "direction", DIRECTIONS, errors, default="higher"),
        "kind": validation.choice(data, "kind", KINDS, errors, default="sum"),
        "source": validation.choice(data, "source", tuple(actuals.SOURCES), errors),
        "definition": validation.text(data, "definition", errors, max_len=1000),
        "filter_field": validation.text(data, "filter_field", errors, max_len=40),
        "filter_value": validation.text(data, "filter_value", errors, max_len=100),
        "measure": validation.text(data, "measure", errors, max_len=40) or "count",
    }
    source = actuals.SOURCES.get(clean["source"])
    if source is not None:
        measure = clean["measure"]
        if measure != "count" and not (measure.startswith("sum:") and measure[4:] in source["sums"]):
            errors["measure"] = _("Choose a count, or a sum of one of this record type's amounts: %(fields)s.",
                                  fields=", ".join(source["sums"]) or "—")
        if clean["filter_field"]:
            if clean["filter_field"] not in source["filters"]:
                errors["filter_field"] = _("This record type can be filtered on: %(fields)s.",
                                           fields=", ".join(source["filters"]) or "—")
            elif not clean["filter_value"]:
                errors["filter_value"] = _("Enter the value to count.")
            elif clean["filter_field"] == "satisfaction" and clean["filter_value"] not in ("1", "2", "3", "4", "5"):
                errors["filter_value"] = _("Satisfaction is a whole number from 1 to 5.")
        else:
            clean["filter_value"] = ""
        if clean["kind"] == "rate" and measure == "count":
            errors["measure"] = _("A rate averages an amount per record: choose a sum.")
    floor_raw = str(data.get("floor") or "").strip()
    clean["floor"] = None
    if floor_raw:
        if clean["direction"] != "lower":
            errors["floor"] = _("A floor applies to lower-is-better KPIs only.")
        else:
            clean["floor"] = parse_value(floor_raw, 2, errors, "floor")
    if errors:
        raise FieldErrors(errors)
    return clean


async def _name_taken(name: str, except_id: UUID | None) -> bool:
    wanted = name.casefold()
    for kpi in await actuals.kpis(active_only=False):
        if kpi.id == except_id:
            continue
        names = {kpi.name.casefold(), kpi.label.casefold()}
        if kpi.builtin and kpi.code in actuals.BUILTIN_NAMES:
            names.add(actuals.BUILTIN_NAMES[kpi.code].casefold())
        if wanted in names:
            return True
    return False


async def _unique_code(name: str) -> str:
    base = slug(name) or f"kpi_{uuid4().hex[:8]}"
    taken = {r["code"] for r in await Kpi.select(Kpi.code)}
    code, n = base, 2
    while code in taken:
        code = f"{base}_{n}"
        n += 1
    return code


async def create_kpi(actor: Actor, data: dict) -> UUID:
    require_role(actor, "admin")
    clean = validate_kpi(data)
    async with db.write_transaction():
        if await _name_taken(clean["name"], None):
            raise FieldErrors({"name": _("A KPI with this name exists already.")})
        position = (await Kpi.select(Kpi.position).order_by(Kpi.position, ascending=False).first() or {}).get(
            "position", 0)
        kid = uuid4()
        await Kpi.insert(Kpi(id=kid, code=await _unique_code(clean["name"]), builtin=False, active=True,
                             position=(position or 0) + 1, created_at=clock.now(), **clean))
    return kid


async def update_kpi(actor: Actor, kpi_id: UUID, data: dict) -> None:
    """Edit a custom KPI (its code stays: targets and links keep pointing at it)."""
    require_role(actor, "admin")
    kpi = await kpi_get(kpi_id)
    if kpi is None:
        raise NotFoundException()
    if kpi.builtin:
        raise PermissionDeniedException(_("Built-in KPIs are defined by the product; you can deactivate them."))
    clean = validate_kpi(data)
    async with db.write_transaction():
        if await _name_taken(clean["name"], kpi_id):
            raise FieldErrors({"name": _("A KPI with this name exists already.")})
        await Kpi.update({getattr(Kpi, k): v for k, v in clean.items()}).where(Kpi.id == kpi_id)


async def set_kpi_active(actor: Actor, kpi_id: UUID, active: bool) -> actuals.KpiDef:
    require_role(actor, "admin")
    kpi = await kpi_get(kpi_id)
    if kpi is None:
        raise NotFoundException()
    await Kpi.update({Kpi.active: active}).where(Kpi.id == kpi_id)
    return kpi


def kpi_form_values(kpi: actuals.KpiDef) -> dict:
    return {"name": kpi.name, "unit": kpi.unit, "direction": kpi.direction, "kind": kpi.kind, "source": kpi.source,
            "measure": kpi.measure, "filter_field": kpi.filter_field, "filter_value": kpi.filter_value,
            "floor": "" if kpi.floor is None else fmt_plain(kpi.floor, 2), "definition": kpi.definition}

