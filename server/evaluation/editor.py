"""The admin's template editor: a template's names, weights, floors, caps, norms and anchored levels.
Saving never changes a version a cycle may use: it writes a new version (same code, version + 1) and
makes it the current one, so running and past cycles keep the version they started with."""

from __future__ import annotations

import json
from uuid import UUID, uuid4

from litestar.exceptions import NotFoundException

from server import clock, db, validation
from server.accounts.permissions import Actor, require_role
from server.accounts.tables import REP_KINDS, Team
from server.evaluation import catalogue, scoring
from server.evaluation.tables import PROCESSES, RATING_SOURCES, SOURCES, ScorecardDimension, ScorecardItem, ScorecardTemplate
from server.i18n import _
from server.targets.tables import Kpi
from server.web import FieldErrors


def _percent(data: dict, name: str, errors: dict) -> int:
    """A weight in percent (0 to 100, two decimals) as basis points."""
    raw = str(data.get(name) or "").strip()
    if raw in ("0", "0.0", "0.00"):
        return 0
    bp = validation.share_bp(data, name, errors)
    return bp or 0


def _percent_of(row: dict) -> int:
    return int(row["weight_bp"])


def _ratio(data: dict, name: str, errors: dict, low: float, high: float) -> float:
    """A percentage field (floor, cap) as a ratio."""
    value = validation.number(data, name, errors, low=low * 100, high=high * 100)
    if value is None and name not in errors:
        errors[name] = _("This field is required.")
    return (value or 0) / 100


ANCHOR_LEVELS = 5  # a new rating item's anchored scale: levels 1 to 5, each described in both languages
MIN_LEVELS, MAX_LEVELS = 3, 7  # an anchored scale has 3 to 7 levels


def anchors(data: dict, k: str, errors: dict, default: int = ANCHOR_LEVELS) -> list[dict]:
    """A rating item's anchored scale from the form: `<k>_levels` (3 to 7; `default` when absent) and, for
    each level n up to it, `<k>_a<n>_zh` / `<k>_a<n>_en`. Every level is described in both languages and
    no two levels share a description (each names a different behaviour); fields above the count are
    ignored."""
    raw = str(data.get(f"{k}_levels") or "").strip()
    count = int(raw) if raw.isdigit() else (default if not raw else 0)
    if not MIN_LEVELS <= count <= MAX_LEVELS:
        errors[f"{k}_levels"] = _("A scale has %(low)s to %(high)s levels.", low=MIN_LEVELS, high=MAX_LEVELS)
        count = min(max(count, MIN_LEVELS), MAX_LEVELS)
    out: list[dict] = []
    for n in range(1, count + 1):
        level = {}
        for lang in ("zh", "en"):
            name = f"{k}_a{n}_{lang}"
            text = validation.text(data, name, errors, max_len=300)
            if not text and name not in errors:
                errors[name] = _("Describe level %(n)s: every level of the scale needs its description.", n=n)
            elif text and any(text.casefold() == o[lang].casefold() for o in out):
                first = next(m for m, o in enumerate(out, start=1) if text.casefold() == o[lang].casefold())
                errors[name] = _("Level %(n)s has the same description as level %(first)s: each level describes a "
                                 "different behaviour.", n=n, first=first)
            level[lang] = text
        out.append(level)
    return out


def _new_item(data: dict, k: str, errors: dict, kpis: tuple[str, ...]) -> dict | None:
    """An item added in the editor (fields `<k>_zh`, `<k>_en`, `<k>_weight`, `<k>_source`, and by source a
    KPI, a process with its norm, floor and cap, or the 3 to 7 levels of its anchored scale); None when its
    names are left empty."""
    if not str(data.get(f"{k}_zh") or "").strip() and not str(data.get(f"{k}_en") or "").strip():
        return None
    source = validation.choice(data, f"{k}_source", SOURCES, errors, default="manager")
    item: dict = {"name_zh": validation.text(data, f"{k}_zh", errors, required=True, max_len=100),
                  "name_en": validation.text(data, f"{k}_en", errors, required=True, max_len=100),
                  "weight_bp": _percent(data, f"{k}_weight", errors), "source": source, "kpi_code": "",
                  "process": "", "floor": 0.0, "cap": 1.0, "band_worst": None, "norm": None, "anchors": []}
    if source == "kpi":
        item["kpi_code"] = validation.choice(data, f"{k}_kpi", kpis, errors) if kpis else ""
        if not kpis:
            errors[f"{k}_kpi"] = _("Choose one of the options.")
    if source == "process":
        item["process"] = validation.choice(data, f"{k}_process", PROCESSES, errors)
        item["norm"] = validation.number(data, f"{k}_norm", errors, low=0.01, high=1000)
        if item["norm"] is None and f"{k}_norm" not in errors:
            errors[f"{k}_norm"] = _("This field is required.")
    if source in ("kpi", "process"):
        item["floor"] = _ratio(data, f"{k}_floor", errors, 0, 2)
        item["cap"] = _ratio(data, f"{k}_cap", errors, 0.01, 3)
        if item["floor"] >= item["cap"] and f"{k}_floor" not in errors:
            errors[f"{k}_floor"] = _("The floor must be below the cap.")
    if source in RATING_SOURCES:
        item["anchors"] = anchors(data, k, errors)
    return item


def parse(template: catalogue.Template, data: dict, kpis: tuple[str, ...] = ()) -> dict:
    """The edited template from the form, checked: weights add up to 100 % per level, floors below caps,
    every level of a scale described in both languages."""
    errors: dict[str, str] = {}
    out: dict = {"name_zh": validation.text(data, "name_zh", errors, required=True, max_len=100),
                 "name_en": validation.text(data, "name_en", errors, required=True, max_len=100), "dimensions": [],
                 "team": validation.uuid(data, "team", errors, required=False),
                 "rep_kind": str(data.get("rep_kind") or "").strip()}
    if out["rep_kind"] and out["rep_kind"] not in REP_KINDS:
        errors["rep_kind"] = _("Choose one of the options.")
    dim_weights: list[int] = []
    for d in template.dimensions:
        key = f"d_{d.id}"
        if data.get(f"{key}_remove"):
            continue
        dim: dict = {"id": d.id, "name_zh": validation.text(data, f"{key}_zh", errors, required=True, max_len=100),
               "name_en": validation.text(data, f"{key}_en", errors, required=True, max_len=100),
               "weight_bp": _percent(data, f"{key}_weight", errors), "items": []}
        dim_weights.append(_percent_of(dim))
        item_weights: list[int] = []
        for i in d.items:
            k = f"i_{i.id}"
            if data.get(f"{k}_remove"):
                continue
            item: dict = {"name_zh": validation.text(data, f"{k}_zh", errors, required=True, max_len=100),
                    "name_en": validation.text(data, f"{k}_en", errors, required=True, max_len=100),
                    "weight_bp": _percent(data, f"{k}_weight", errors), "floor": i.floor, "cap": i.cap,
                    "norm": i.norm, "anchors": list(i.anchors), "source": i.source, "kpi_code": i.kpi_code,
                    "process": i.process, "band_worst": i.band_worst}
            if i.source in ("kpi", "process"):
                item["floor"] = _ratio(data, f"{k}_floor", errors, 0, 2)
                item["cap"] = _ratio(data, f"{k}_cap", errors, 0.01, 3)
                if item["floor"] >= item["cap"] and f"{k}_floor" not in errors:
                    errors[f"{k}_floor"] = _("The floor must be below the cap.")
            if i.source == "process" and i.process in PROCESSES:
                norm = validation.number(data, f"{k}_norm", errors, low=0.01, high=1000)
                if norm is None and f"{k}_norm" not in errors:
                    errors[f"{k}_norm"] = _("This field is required.")
                item["norm"] = norm
            if i.is_rating:
                item["anchors"] = anchors(data, k, errors, default=len(i.anchors) or ANCHOR_LEVELS)
            item_weights.append(_percent_of(item))
            dim["items"].append(item)
        added = _new_item(data, f"n_{d.id}", errors, kpis)
        if added:
            item_weights.append(_percent_of(added))
            dim["items"].append(added)
        if not dim["items"]:
            errors[f"{key}_weight"] = _("A dimension needs at least one item: add one or remove the dimension.")
        elif not scoring.check_weights(item_weights):
            errors[f"{key}_weight"] = _("The weights of this dimension's items add up to %(sum)s %%, not 100 %%.",
                                        sum=f"{sum(item_weights) / 100:g}")
        out["dimensions"].append(dim)
    if str(data.get("nd_zh") or "").strip() or str(data.get("nd_en") or "").strip():
        dim = {"name_zh": validation.text(data, "nd_zh", errors, required=True, max_len=100),
               "name_en": validation.text(data, "nd_en", errors, required=True, max_len=100),
               "weight_bp": _percent(data, "nd_weight", errors), "items": []}
        first = _new_item(data, "nd_i", errors, kpis)
        if first is None:
            errors["nd_i_zh"] = _("A new dimension needs its first item.")
        else:
            if not scoring.check_weights([_percent_of(first)]):
                errors["nd_i_weight"] = _("The weights of this dimension's items add up to %(sum)s %%, not 100 %%.",
                                          sum=f"{first['weight_bp'] / 100:g}")
            dim["items"].append(first)
        dim_weights.append(_percent_of(dim))
        out["dimensions"].append(dim)
    if not out["dimensions"]:
        errors[""] = _("A template needs at least one dimension.")
    elif not scoring.check_weights(dim_weights):
        errors[""] = _("The dimensions' weights add up to %(sum)s %%, not 100 %%.", sum=f"{sum(dim_weights) / 100:g}")
    if errors:
        raise FieldErrors(errors)
    return out


async def kpi_choices() -> list[dict]:
    """The active KPIs a new KPI item may use."""
    return await Kpi.select(Kpi.code, Kpi.name).where(Kpi.active == True).order_by(Kpi.code)  # noqa: E712


async def template_for(actor: Actor, template_id: UUID) -> catalogue.Template:
    require_role(actor, "admin")
    template = await catalogue.load(template_id)
    if template is None:
        raise NotFoundException()
    return template


async def save(actor: Actor, template_id: UUID, data: dict) -> UUID:
    """Write the edited template as a new current version; returns its id."""
    template = await template_for(actor, template_id)
    kpis = tuple(r["code"] for r in await kpi_choices())
    clean = parse(template, data, kpis)
    if clean["team"] is not None and not await Team.exists().where(Team.id == clean["team"]):
        raise FieldErrors({"team": _("Choose a team, or all teams.")})
    new_id = uuid4()
    row = await ScorecardTemplate.select().where(ScorecardTemplate.id == template_id).first()
    assert row is not None
    async with db.write_transaction():
        latest = await ScorecardTemplate.select(ScorecardTemplate.version).where(
            ScorecardTemplate.code == template.code).order_by(ScorecardTemplate.version, ascending=False).first()
        await ScorecardTemplate.update({ScorecardTemplate.current: False}).where(
            ScorecardTemplate.code == template.code)
        await ScorecardTemplate.insert(ScorecardTemplate(
            id=new_id, code=template.code, version=(latest or {"version": 0})["version"] + 1, name_zh=clean["name_zh"],
            name_en=clean["name_en"], role=row["role"], team=clean["team"], rep_kind=clean["rep_kind"], current=True,
            builtin=False,
            created_at=clock.now()))
        for position, dim in enumerate(clean["dimensions"], start=1):
            dim_id = uuid4()
            await ScorecardDimension.insert(ScorecardDimension(id=dim_id, template=new_id, position=position,
                                                               name_zh=dim["name_zh"], name_en=dim["name_en"],
                                                               weight_bp=dim["weight_bp"]))
            await ScorecardItem.insert(*[ScorecardItem(
                id=uuid4(), dimension=dim_id, position=n, name_zh=item["name_zh"], name_en=item["name_en"],
                weight_bp=item["weight_bp"], source=item["source"], kpi_code=item["kpi_code"],
                process=item["process"], floor=item["floor"], cap=item["cap"], band_worst=item["band_worst"],
                norm=item["norm"], anchors=json.dumps(item["anchors"], ensure_ascii=False),
            ) for n, item in enumerate(dim["items"], start=1)])
    return new_id


def form_values(template: catalogue.Template) -> dict[str, str]:
    """The editor's fields for a template as stored."""
    values = {"name_zh": template.name_zh, "name_en": template.name_en,
              "team": "" if template.team is None else str(template.team), "rep_kind": template.rep_kind}
    for d in template.dimensions:
        values.update({f"d_{d.id}_zh": d.name_zh, f"d_{d.id}_en": d.name_en, f"d_{d.id}_weight": f"{d.weight_bp / 100:g}"})
        for i in d.items:
            k = f"i_{i.id}"
            values.update({f"{k}_zh": i.name_zh, f"{k}_en": i.name_en, f"{k}_weight": f"{i.weight_bp / 100:g}",
                           f"{k}_floor": f"{i.floor * 100:g}", f"{k}_cap": f"{i.cap * 100:g}",
                           f"{k}_norm": "" if i.norm is None else f"{i.norm:g}"})
            if i.is_rating:
                values[f"{k}_levels"] = str(len(i.anchors))
            for level, a in enumerate(i.anchors, start=1):
                values[f"{k}_a{level}_zh"], values[f"{k}_a{level}_en"] = a.get("zh", ""), a.get("en", "")
    return values
