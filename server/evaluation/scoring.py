"""The scorecard's arithmetic, pure: every item normalised to 0..100, weighted within its dimension,
dimensions weighted into the total; items without data are left out and their weight re-spread.

Normalisation (formula version 1):
- a KPI item's attainment is `formulas.attainment` (actual / target-to-date; a lower-is-better KPI is the
  linear band from its worst acceptable value, 0 %, to the target, 100 %), a process item's is its value
  over the norm;
- below the item's floor the item scores 0; otherwise 100 x min(attainment, cap) / cap (with the usual cap
  of 100 %, an attainment of 85 % scores 85);
- a rating of level L on a scale of N levels scores 100 x (L - 1) / (N - 1) (peers: the mean level).

Weights are basis points (10,000 = 100 %). An item with no data (no target, a zero target, nothing
measured, too few peer answers) is excluded: the others of its dimension share its weight in proportion to
their own; a dimension left with no item is excluded the same way among the dimensions. The card lists
what was excluded and why, so a rep reads the exact arithmetic behind the total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from server.targets import formulas

FORMULA_VERSION = "1"
FULL = 10_000

# Why an item has no points (shown on the card, translated there).
NO_DATA, NO_TARGET, ZERO_TARGET, TOO_FEW_PEERS, NOT_RATED = "no_data", "no_target", "zero_target", "too_few_peers", "not_rated"


@dataclass(frozen=True)
class ItemSpec:
    id: str
    weight_bp: int
    source: str  # kpi | process | manager | peer | self
    floor: float = 0.0
    cap: float = 1.0
    levels: int = 5


@dataclass(frozen=True)
class DimensionSpec:
    id: str
    weight_bp: int
    items: tuple[ItemSpec, ...]


@dataclass(frozen=True)
class Measure:
    """What was measured for one item: the attainment (KPI, process), or the (mean) level of a rating;
    `missing` names why there is nothing to score."""

    attainment: float | None = None
    level: float | None = None
    missing: str | None = None


@dataclass
class ItemResult:
    id: str
    points: float | None
    weight: float  # effective share of its dimension, 0..1 (0 when excluded)
    missing: str | None = None
    share_of_total: float = 0.0  # effective share of the total, 0..1

    @property
    def contribution(self) -> float:
        """Points this item adds to the total."""
        return (self.points or 0.0) * self.share_of_total

    @property
    def lost(self) -> float:
        """Points of the total this item did not earn (what stands between the total and 100)."""
        return (100.0 - (self.points or 0.0)) * self.share_of_total if self.points is not None else 0.0


@dataclass
class DimensionResult:
    id: str
    points: float | None
    weight: float  # effective share of the total, 0..1
    items: list[ItemResult] = field(default_factory=list)

    @property
    def excluded(self) -> bool:
        return self.points is None


@dataclass
class Card:
    total: float | None
    dimensions: list[DimensionResult]

    @property
    def excluded(self) -> list[ItemResult]:
        return [i for d in self.dimensions for i in d.items if i.points is None]

    @property
    def respread(self) -> bool:
        """Whether some weight was re-spread (the card says so)."""
        return bool(self.excluded)


def points(attainment: float, floor: float, cap: float) -> float:
    """0 below the floor; else 100 x min(attainment, cap) / cap."""
    if cap <= 0:
        return 100.0 if attainment > 0 else 0.0
    if attainment < floor:
        return 0.0
    return 100.0 * min(max(attainment, 0.0), cap) / cap


def rating_points(level: float, levels: int) -> float:
    if levels <= 1:
        return 100.0
    clamped = min(max(level, 1.0), float(levels))
    return 100.0 * (clamped - 1.0) / (levels - 1)


def kpi_attainment(actual: float | None, target: float | None, direction: str = "higher",
                   band_worst: float | None = None) -> Measure:
    """A KPI item's measure from the KPI's actual and its (pro-rated) target-to-date."""
    if target is None:
        return Measure(missing=NO_TARGET)
    if actual is None:
        return Measure(missing=NO_DATA)
    if direction == "higher" and target <= 0:
        return Measure(missing=ZERO_TARGET)
    return Measure(attainment=formulas.attainment(actual, target, direction, band_worst))


def process_attainment(value: float | None, norm: float | None) -> Measure:
    """A process item's measure: its value (a share, or visits per working day) over the norm."""
    if value is None:
        return Measure(missing=NO_DATA)
    if not norm or norm <= 0:
        return Measure(missing=ZERO_TARGET)
    return Measure(attainment=value / norm)


def rating_measure(levels: list[int], minimum: int = 1) -> Measure:
    """A rating item's measure: the mean of the answers' levels; fewer than `minimum` answers (the peer
    threshold) count as missing, so a lone peer's answer is never shown nor used."""
    if not levels:
        return Measure(missing=NOT_RATED)
    if len(levels) < minimum:
        return Measure(missing=TOO_FEW_PEERS)
    return Measure(level=sum(levels) / len(levels))


Span = tuple[date, date]  # a stretch of days, both ends included


def member_days(spans: tuple[Span, ...] | None, start: date, end: date,
                overrides: dict[date, bool] | None = None) -> int:
    """Working days from `start` to `end` on which the rep was a member of a team (`spans`: their
    stretches in a team; None: a member throughout)."""
    if spans is None:
        return formulas.working_days(start, end, overrides)
    return sum(formulas.working_days(max(a, start), min(b, end), overrides) for a, b in spans)


def prorate_member(target: float | None, start: date, end: date, spans: tuple[Span, ...] | None,
                   overrides: dict[date, bool] | None = None) -> float | None:
    """A period's target for a rep who was a member of a team on only some of its days (`spans`, None: all
    of them): the share of the period's working days they were a member on. None for a rep who was a
    member on none of them."""
    if target is None or spans is None:
        return target
    if not any(a <= end and b >= start for a, b in spans):
        return None
    total = formulas.working_days(start, end, overrides)
    if total <= 0:
        return target
    days = member_days(spans, start, end, overrides)
    return target * days / total if days > 0 else None


def prorate(target: float | None, start: date, end: date, joined: date | None,
            overrides: dict[date, bool] | None = None) -> float | None:
    """A period's target for a rep who joined during it: the share of the period's working days from the
    day they joined. Unchanged for a rep who was there from the start; None for one who joined after it."""
    if joined is None or joined <= start:
        return target
    return prorate_member(target, start, end, ((joined, end),) if joined <= end else (), overrides)


def item_points(spec: ItemSpec, measure: Measure) -> float | None:
    if measure.missing is not None:
        return None
    if spec.source in ("manager", "peer", "self"):
        return None if measure.level is None else rating_points(measure.level, spec.levels)
    if measure.attainment is None:
        return None
    return points(measure.attainment, spec.floor, spec.cap)


def _spread(weights: list[tuple[int, bool]]) -> list[float]:
    """Effective shares (0..1) of the included weights; excluded ones get 0."""
    included = sum(w for w, keep in weights if keep)
    if included <= 0:
        return [0.0 for _w in weights]
    return [w / included if keep else 0.0 for w, keep in weights]


def score(dimensions: list[DimensionSpec], measures: dict[str, Measure]) -> Card:
    """The card: each item's points, each dimension's weighted points, the weighted total (None when no
    item has data). Item ids missing from `measures` count as no data."""
    results: list[DimensionResult] = []
    for dim in dimensions:
        found = [(spec, measures.get(spec.id, Measure(missing=NO_DATA))) for spec in dim.items]
        pts = [item_points(spec, m) for spec, m in found]
        shares = _spread([(spec.weight_bp, p is not None) for (spec, _m), p in zip(found, pts, strict=True)])
        items = [ItemResult(spec.id, p, s, None if p is not None else (m.missing or NO_DATA))
                 for (spec, m), p, s in zip(found, pts, shares, strict=True)]
        included = [i for i in items if i.points is not None]
        value = sum((i.points or 0.0) * i.weight for i in included) if included else None
        results.append(DimensionResult(dim.id, value, 0.0, items))
    dim_shares = _spread([(d.weight_bp, r.points is not None) for d, r in zip(dimensions, results, strict=True)])
    for r, share in zip(results, dim_shares, strict=True):
        r.weight = share
        for i in r.items:
            i.share_of_total = i.weight * share
    kept = [r for r in results if r.points is not None]
    total = sum((r.points or 0.0) * r.weight for r in kept) if kept else None
    return Card(total, results)


def check_weights(weights: list[int]) -> bool:
    """Whether weights (basis points) add up to 100 %."""
    return sum(weights) == FULL and all(w >= 0 for w in weights)


def grade(total: float) -> str:
    """The calibration grade of a score: top (85 and above), middle, bottom (below 60)."""
    if total >= 85:
        return "top"
    if total < 60:
        return "bottom"
    return "middle"


def parse_guide(text: str) -> tuple[int, int, int] | None:
    """"20/70/10" -> (20, 70, 10); None when empty or not three whole percentages adding up to 100."""
    parts = [p.strip() for p in text.replace("-", "/").split("/")] if text.strip() else []
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    top, middle, bottom = (int(p) for p in parts)
    return (top, middle, bottom) if top + middle + bottom == 100 else None


def guide_warnings(totals: list[float], guide: tuple[int, int, int]) -> list[tuple[str, int, int]]:
    """(grade, reps in it, reps the guide expects at most) for each grade holding more reps than the
    guide's share allows (rounded up): a warning, never a rule."""
    if not totals:
        return []
    counts = {"top": 0, "middle": 0, "bottom": 0}
    for t in totals:
        counts[grade(t)] += 1
    out = []
    for name, share in zip(("top", "middle", "bottom"), guide, strict=True):
        allowed = -(-len(totals) * share // 100)  # ceiling
        if counts[name] > allowed:
            out.append((name, counts[name], int(allowed)))
    return out
