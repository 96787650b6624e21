"""Scorecard templates as the scoring reads them: one version with its dimensions and items."""

from __future__ import annotations

import json
from dataclasses import dataclass
from uuid import UUID

from server import i18n
from server.db import as_uuid
from server.evaluation import scoring
from server.evaluation.tables import ScorecardDimension, ScorecardItem, ScorecardTemplate


def local(row: dict, prefix: str = "name") -> str:
    """A bilingual name in the reader's language."""
    return row[f"{prefix}_zh"] if i18n.current_locale() == "zh_CN" else row[f"{prefix}_en"]


@dataclass(frozen=True)
class Item:
    id: UUID
    name_zh: str
    name_en: str
    weight_bp: int
    source: str
    kpi_code: str
    process: str
    floor: float
    cap: float
    band_worst: float | None
    norm: float | None
    anchors: tuple[dict, ...]

    @property
    def name(self) -> str:
        return local({"name_zh": self.name_zh, "name_en": self.name_en})

    @property
    def is_rating(self) -> bool:
        return self.source in ("manager", "peer", "self")

    def anchor_text(self, level: int) -> str:
        if 1 <= level <= len(self.anchors):
            return local({"a_zh": self.anchors[level - 1].get("zh", ""), "a_en": self.anchors[level - 1].get("en", "")},
                         "a")
        return ""

    def spec(self) -> scoring.ItemSpec:
        return scoring.ItemSpec(str(self.id), self.weight_bp, self.source, self.floor, self.cap,
                                max(len(self.anchors), 2) if self.is_rating else 5)


@dataclass(frozen=True)
class Dimension:
    id: UUID
    name_zh: str
    name_en: str
    weight_bp: int
    items: tuple[Item, ...]

    @property
    def name(self) -> str:
        return local({"name_zh": self.name_zh, "name_en": self.name_en})


@dataclass(frozen=True)
class Template:
    id: UUID
    code: str
    version: int
    name_zh: str
    name_en: str
    dimensions: tuple[Dimension, ...]
    team: UUID | None = None  # the one team it applies to; None: every team
    rep_kind: str = ""  # the one kind of rep it applies to (User.rep_kind); "": every kind

    @property
    def name(self) -> str:
        return local({"name_zh": self.name_zh, "name_en": self.name_en})

    def items(self) -> list[Item]:
        return [i for d in self.dimensions for i in d.items]

    def item(self, item_id: str | UUID) -> Item | None:
        return next((i for i in self.items() if str(i.id) == str(item_id)), None)

    def specs(self) -> list[scoring.DimensionSpec]:
        return [scoring.DimensionSpec(str(d.id), d.weight_bp, tuple(i.spec() for i in d.items)) for d in self.dimensions]

    def sources(self, *sources: str) -> list[Item]:
        return [i for i in self.items() if i.source in sources]


# A template version never changes once written (the editor saves a new version), so a loaded version is
# kept in memory: the scorecard page and the scores job read it without a query.
_LOADED: dict[UUID, Template] = {}
_KEEP = 64


async def load(template_id: UUID) -> Template | None:
    """One template version with its dimensions and items, in order (three queries the first time)."""
    if template_id in _LOADED:
        return _LOADED[template_id]
    template = await _read(template_id)
    if template is not None:
        if len(_LOADED) >= _KEEP:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[template_id] = template
    return template


async def _read(template_id: UUID) -> Template | None:
    row = await ScorecardTemplate.select().where(ScorecardTemplate.id == template_id).first()
    if row is None:
        return None
    dims = await ScorecardDimension.select().where(ScorecardDimension.template == template_id).order_by(
        ScorecardDimension.position)
    dim_ids = [d["id"] for d in dims]
    items = await ScorecardItem.select().where(ScorecardItem.dimension.is_in(dim_ids)).order_by(
        ScorecardItem.position) if dim_ids else []
    by_dim: dict[UUID, list[Item]] = {}
    for r in items:
        by_dim.setdefault(as_uuid(r["dimension"]) or r["dimension"], []).append(Item(
            r["id"], r["name_zh"], r["name_en"], r["weight_bp"], r["source"], r["kpi_code"], r["process"],
            float(r["floor"]), float(r["cap"]), r["band_worst"], r["norm"], tuple(json.loads(r["anchors"] or "[]"))))
    return Template(row["id"], row["code"], row["version"], row["name_zh"], row["name_en"],
                    tuple(Dimension(d["id"], d["name_zh"], d["name_en"], d["weight_bp"], tuple(by_dim.get(d["id"], [])))
                          for d in dims), as_uuid(row["team"]) if row["team"] else None, row["rep_kind"] or "")


async def current_templates() -> list[dict]:
    """The latest version of every template (what a new cycle may start with)."""
    return await ScorecardTemplate.select().where(ScorecardTemplate.current == True).order_by(  # noqa: E712
        ScorecardTemplate.code)
