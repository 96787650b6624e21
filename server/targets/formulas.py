"""Targets and pace as pure functions: periods, working days, splits, seasonality, suggestions, SMART, pace.

No database here: services fetch numbers (server/targets/actuals.py) and pass them in, so every formula
has unit tests with hand-computed cases (tests/unit/test_target_formulas.py). The formulas follow
`../shared/DESIGN.md` section 5.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, field
from datetime import date, timedelta

from server.i18n import _, fmt_number

# --- Periods -----------------------------------------------------------------------------------

YEAR, QUARTER, MONTH = "year", "quarter", "month"


def year_code(year: int) -> str:
    return f"{year:04d}"


def quarter_code(year: int, quarter: int) -> str:
    return f"{year:04d}-Q{quarter}"


def month_code(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def parse_period(code: str) -> tuple[str, date, date]:
    """(kind, first day, last day) of a period code "2026", "2026-Q2" or "2026-03"; ValueError otherwise."""
    code = (code or "").strip()
    if len(code) == 4 and code.isdigit():
        year = int(code)
        _check_year(year)
        return YEAR, date(year, 1, 1), date(year, 12, 31)
    if len(code) == 7 and code[4:6] == "-Q" and code[:4].isdigit() and code[6] in "1234":
        year, quarter = int(code[:4]), int(code[6])
        _check_year(year)
        first_month = 3 * (quarter - 1) + 1
        last_month = first_month + 2
        return QUARTER, date(year, first_month, 1), date(year, last_month, calendar.monthrange(year, last_month)[1])
    if len(code) == 7 and code[4] == "-" and code[:4].isdigit() and code[5:].isdigit():
        year, month = int(code[:4]), int(code[5:])
        _check_year(year)
        if 1 <= month <= 12:
            return MONTH, date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    raise ValueError(f"not a period code: {code!r}")


def month_end(year: int, month: int) -> date:
    """The last day of a month."""
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def _check_year(year: int) -> None:
    if not 2000 <= year <= 2100:
        raise ValueError(f"year out of range: {year}")


def period_of(day: date, kind: str) -> str:
    """The code of the period of `kind` that contains `day`."""
    if kind == YEAR:
        return year_code(day.year)
    if kind == QUARTER:
        return quarter_code(day.year, (day.month - 1) // 3 + 1)
    return month_code(day.year, day.month)


def children(code: str) -> list[str]:
    """A year's quarters, a quarter's months, a month's nothing."""
    kind, start, _end = parse_period(code)
    if kind == YEAR:
        return [quarter_code(start.year, q) for q in range(1, 5)]
    if kind == QUARTER:
        return [month_code(start.year, start.month + i) for i in range(3)]
    return []


def months(code: str) -> list[str]:
    """The month codes a period covers."""
    kind, start, end = parse_period(code)
    return [month_code(start.year, m) for m in range(start.month, end.month + 1)]


def year_periods(year: int) -> list[str]:
    """Every period of a plan year, parents before children: the year, its quarters, its months."""
    return [year_code(year)] + [quarter_code(year, q) for q in range(1, 5)] + [month_code(year, m) for m in range(1, 13)]


def previous_periods(code: str, count: int) -> list[str]:
    """The `count` periods of the same kind before `code`, oldest first (trends over the last periods);
    none from before 2000, the first year the app knows."""
    kind, start, _end = parse_period(code)
    out = []
    for back in range(count, 0, -1):
        if kind == YEAR:
            out.append(year_code(start.year - back))
        elif kind == QUARTER:
            index = start.year * 4 + (start.month - 1) // 3 - back
            out.append(quarter_code(index // 4, index % 4 + 1))
        else:
            index = start.year * 12 + start.month - 1 - back
            out.append(month_code(index // 12, index % 12 + 1))
    return [c for c in out if int(c[:4]) >= 2000]


# --- Working days ------------------------------------------------------------------------------


def is_working(day: date, overrides: dict[date, bool] | None = None) -> bool:
    """Monday to Friday, unless the work calendar says otherwise (a holiday, or a make-up Saturday)."""
    if overrides and day in overrides:
        return overrides[day]
    return day.weekday() < 5


def working_days(start: date, end: date, overrides: dict[date, bool] | None = None) -> int:
    """Working days from `start` to `end`, both included (0 if end < start)."""
    if end < start:
        return 0
    days = (end - start).days + 1
    weeks, rest = divmod(days, 7)
    count = weeks * 5 + sum(1 for i in range(rest) if (start + timedelta(days=weeks * 7 + i)).weekday() < 5)
    for day, working in (overrides or {}).items():
        if start <= day <= end and working != (day.weekday() < 5):
            count += 1 if working else -1
    return count


def elapsed_share(start: date, end: date, today: date, overrides: dict[date, bool] | None = None,
                  month_weights: dict[str, float] | None = None) -> float:
    """The share of a period's work done by the end of `today`, 0..1.

    Within a month: working days elapsed (today included) / working days in the month. Over several
    months, each month counts by its weight (seasonality from last year's actuals, when there is history;
    otherwise by its working days), so a quarter whose first month is usually slow expects less by then.
    A period with no working days counts as fully elapsed once it has begun."""
    if today < start:
        return 0.0
    if today >= end:
        return 1.0
    spans = _month_spans(start, end)
    if len(spans) == 1 or not month_weights:
        total = working_days(start, end, overrides)
        if total == 0:
            return 1.0
        return working_days(start, min(today, end), overrides) / total
    weights = [max(0.0, month_weights.get(month_code(s.year, s.month), 0.0)) for s, _e in spans]
    if sum(weights) <= 0:
        return elapsed_share(start, end, today, overrides)
    done = 0.0
    for (s, e), weight in zip(spans, weights):
        done += weight * elapsed_share(s, e, today, overrides)
    return done / sum(weights)


def _month_spans(start: date, end: date) -> list[tuple[date, date]]:
    spans = []
    cursor = start
    while cursor <= end:
        last = date(cursor.year, cursor.month, calendar.monthrange(cursor.year, cursor.month)[1])
        spans.append((cursor, min(last, end)))
        cursor = last + timedelta(days=1)
    return spans


# --- Splits ------------------------------------------------------------------------------------


def split(total: float, weights: list[float], decimals: int = 0) -> list[float]:
    """Divide `total` in proportion to `weights`, rounded to `decimals`, so the parts add up to `total`
    exactly (largest remainder: the rounding left over goes to the parts that lost most to rounding).
    Weights that are all zero split equally."""
    if not weights:
        return []
    clean = [w if (w > 0 and math.isfinite(w)) else 0.0 for w in weights]
    if sum(clean) <= 0:
        clean = [1.0] * len(weights)
    scale = 10 ** decimals
    units = round(total * scale)
    raw = [units * w / sum(clean) for w in clean]
    parts = [math.floor(r) for r in raw]
    left = units - sum(parts)
    for index in sorted(range(len(raw)), key=lambda i: (parts[i] - raw[i], i))[:left]:
        parts[index] += 1
    return [p / scale for p in parts]


def split_equal(total: float, count: int, decimals: int = 0) -> list[float]:
    return split(total, [1.0] * count, decimals)


def split_percentages(total: float, percentages: list[float], decimals: int = 0) -> list[float]:
    """Custom percentages, which must add up to 100 (to within 0.01): ValueError otherwise."""
    if any(p < 0 or not math.isfinite(p) for p in percentages) or abs(sum(percentages) - 100) > 0.01:
        raise ValueError("percentages must be non-negative and add up to 100")
    return split(total, percentages, decimals)


def derive_quarters(months: list[float], decimals: int) -> list[float]:
    """The four quarters of a year as the sums of their months (so a split adds up exactly)."""
    return [round(sum(months[3 * q:3 * q + 3]), decimals) for q in range(4)]


def split_among(parent_values: dict[str, float], weights: list[float], year: int, which: str,
                decimals: int, *, month_weights: dict[str, list[float]] | None = None,
                keep: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """A parent row's targets divided among its children by `weights`: period code -> each child's part.

    `which` is one period code or "all": then every month with a parent value is split, and each
    quarter and the year are the sums of their children's months when all of them are split (so rows
    and columns both add up), else split from the parent's own value. `month_weights` gives a month its
    own weights (0 for a child not in the team that month: a rep who joins in July has no target before
    it; a month where every weight is 0 falls back to `weights`). `keep` holds months left as they are
    (a re-split from a month keeps the months before it): their parts are the children's current values,
    and the quarters and the year are still the sums of the months."""
    count = len(weights)

    def share(period: str, own: list[float] | None = None) -> list[float]:
        chosen = own if own is not None and any(w > 0 for w in own) else weights
        return split(parent_values[period], chosen, decimals)

    periods = year_periods(year) if which == "all" else [which]
    done: dict[str, list[float]] = {}
    for period in periods:
        if parse_period(period)[0] != "month":
            continue
        if keep is not None and period in keep:
            done[period] = keep[period]
        elif period in parent_values:
            done[period] = share(period, (month_weights or {}).get(period))
    if which == "all":
        for q in children(year_code(year)):
            ms = children(q)
            if all(m in done for m in ms):
                done[q] = [round(sum(done[m][c] for m in ms), decimals) for c in range(count)]
            elif q in parent_values:
                done[q] = share(q)
        y = year_code(year)
        qs = children(y)
        if all(q in done for q in qs):
            done[y] = [round(sum(done[q][c] for q in qs), decimals) for c in range(count)]
        elif y in parent_values:
            done[y] = share(y)
    elif which in parent_values and which not in done:
        done[which] = share(which)
    return done


def seasonality(history: list[float], working: list[int] | None = None) -> list[float]:
    """Weights (adding up to 1) of the months of a year from last year's monthly actuals.

    Without usable history (missing, all zero, a negative month, or history that starts during the year,
    from which no season can be learned), the weights follow the working days of each month (`working`),
    or are equal."""
    if full_year(history):
        return [h / sum(history) for h in history]
    if working and len(working) == 12 and sum(working) > 0:
        return [w / sum(working) for w in working]
    return [1 / 12] * 12


def full_year(history: list[float]) -> bool:
    """Twelve months of usable history from January on: what a season can be learned from."""
    return (len(history) == 12 and all(h >= 0 and math.isfinite(h) for h in history) and sum(history) > 0
            and _active_months(history) == 12)


def decimals_for(unit: str) -> int:
    """Money to the cent; counts whole; percentages and scores to one decimal."""
    return {"money": 2, "count": 0}.get(unit, 1)


# --- Suggestions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    value: float
    growth: float
    basis: float  # last year's value for the same period
    explanation: str


GROWTH_FLOOR, GROWTH_CAP = 0.5, 2.0


def suggest(last_year: list[float], year_before: list[float] | None, months_in_period: list[int],
            kind: str = "sum", decimals: int = 0) -> Suggestion | None:
    """A suggested target for the period made of `months_in_period` (1..12) of the plan year.

    sum KPIs: trend x seasonality. The trend is last year's total over the year before's (clamped to
    0.5..2, 1 without a full year before); the period gets its seasonal share of last year's total grown
    by it. When history starts during last year (3 months or more), the run rate of those months, pro
    rata: a season cannot be learned from part of a year.
    None without any history. Rate KPIs use suggest_rate()."""
    if len(last_year) != 12:
        return None
    total_last = sum(last_year)
    if kind == "rate":
        raise ValueError("rate KPIs: use suggest_rate() with (numerator, denominator) pairs")
    if total_last <= 0:
        return None
    active = _active_months(last_year)
    if active < 12:
        # History starts during last year (a new rep, or data kept since then): no season to learn and no
        # trend to compare, so the suggestion is the run rate of the months with data, pro rata.
        if active < MIN_ACTIVE_MONTHS:
            return None
        yearly = total_last * 12 / active
        share = len(months_in_period) / 12
        basis = sum(last_year[m - 1] for m in months_in_period)
        return Suggestion(round(yearly * share, decimals), 1.0, basis, _(
            "Run rate of the last %(n)s months, %(total)s a year, x %(share)s%% of the year",
            n=active, total=_num(yearly), share=_num(share * 100, 1)))
    full_before = year_before if year_before and len(year_before) == 12 and _active_months(year_before) == 12 else None
    growth = _growth(total_last, sum(full_before) if full_before else None)
    weights = seasonality(last_year)
    share = sum(weights[m - 1] for m in months_in_period)
    basis = sum(last_year[m - 1] for m in months_in_period)
    value = round(total_last * growth * share, decimals)
    return Suggestion(value, growth, basis, _(
        "Last year's total %(total)s x trend %(growth)s x seasonal share %(share)s%%",
        total=_num(total_last), growth=_num(growth, 2), share=_num(share * 100, 1)))


MIN_ACTIVE_MONTHS = 3


def _active_months(history: list[float]) -> int:
    """Months from the first one with data to the end of the year (leading empty months: no history yet)."""
    for index, value in enumerate(history):
        if value:
            return 12 - index
    return 0


RATE_GROWTH_FLOOR, RATE_GROWTH_CAP = 0.8, 1.25


def suggest_rate(last_year: list[tuple[float, float]], year_before: list[tuple[float, float]] | None,
                 decimals: int = 1) -> Suggestion | None:
    """A rate KPI's suggestion: last year's rate from all its records (the sum of the months' numerators
    over the sum of their denominators, so a month of 0 won out of 5 counts and a month without deals does
    not), moved by its trend against the year before (clamped to 0.8..1.25). None without history."""
    numerator = sum(n for n, _d in last_year)
    denominator = sum(d for _n, d in last_year)
    if denominator <= 0:
        return None
    basis = numerator / denominator
    before_den = sum(d for _n, d in year_before or [])
    growth = 1.0
    if before_den > 0:
        before = sum(n for n, _d in year_before or []) / before_den
        if before > 0:
            growth = min(RATE_GROWTH_CAP, max(RATE_GROWTH_FLOOR, basis / before))
    return Suggestion(round(basis * growth, decimals), growth, basis, _(
        "Last year's rate %(basis)s x trend %(growth)s", basis=_num(basis, 1), growth=_num(growth, 2)))


def _growth(last: float, before: float | None) -> float:
    if not before or before <= 0:
        return 1.0
    return min(GROWTH_CAP, max(GROWTH_FLOOR, last / before))


def _num(value: float, digits: int = 0) -> str:
    return fmt_number(value, digits)


# --- SMART -------------------------------------------------------------------------------------

ACHIEVABLE_FACTOR = 1.5


@dataclass(frozen=True)
class Check:
    letter: str  # S, M, A, R or T
    ok: bool
    message: str


def smart(*, kpi_active: bool, kpi_defined: bool, measurable: bool, value: float, direction: str, kind: str,
          best: float | None, is_company: bool, parent_value: float | None, period_start: date | None,
          period_end: date | None, plan_year: int) -> list[Check]:
    """The SMART check of one target cell.

    S: the KPI is active and has a definition. M: it is computed from data (built-in, or a custom count
    or sum over a record type). A: within reach of the scope's own history: for higher-is-better, at most
    1.5 x their best comparable period (lower-is-better: at least their best / 1.5); no history is a
    warning only when the target is positive. R: a team or rep target has a parent target. T: the period
    lies within the plan year."""
    checks = [
        Check("S", kpi_active and kpi_defined, _("A defined, active KPI.") if kpi_active and kpi_defined
              else _("The KPI is inactive or has no definition.")),
        Check("M", measurable, _("Measured from recorded data.") if measurable
              else _("The KPI cannot be computed from data.")),
    ]
    if not math.isfinite(value) or value < 0:
        checks.append(Check("A", False, _("The target must be a number of zero or more.")))
    elif best is None or best <= 0:
        checks.append(Check("A", value == 0 or kind == "rate", _("No comparable history to judge it by.")))
    elif direction == "higher" and value > ACHIEVABLE_FACTOR * best:
        checks.append(Check("A", False, _(
            "%(factor)s x the best comparable period (%(best)s): likely out of reach.",
            factor=_num(value / best, 1), best=_num(best, 1))))
    elif direction == "lower" and value < best / ACHIEVABLE_FACTOR:
        checks.append(Check("A", False, _(
            "Far below the best comparable period (%(best)s): likely out of reach.", best=_num(best, 1))))
    else:
        checks.append(Check("A", True, _("Within reach of the best comparable period (%(best)s).",
                                         best=_num(best, 1))))
    if is_company:
        checks.append(Check("R", True, _("The company target.")))
    else:
        checks.append(Check("R", parent_value is not None, _("Part of a parent target.") if parent_value is not None
                            else _("No parent target: set the team's or company's first.")))
    bounded = (period_start is not None and period_end is not None and period_start.year == plan_year
               and period_end.year == plan_year)
    checks.append(Check("T", bounded, _("Due at the end of its period.") if bounded
                        else _("The period is outside the plan year.")))
    return checks


# --- Pace --------------------------------------------------------------------------------------

ON_TRACK, AT_RISK, BEHIND, NO_TARGET, NO_DATA = "on_track", "at_risk", "behind", "no_target", "no_data"
# A target of 0 on a higher-is-better KPI: set, and met by any result; attainment and the pace index have
# nothing to divide by, so they are not computed and the line is never behind.
ZERO_TARGET = "zero_target"


@dataclass(frozen=True)
class Thresholds:
    """On track at a pace index of at least `on_track_min`; at risk from `at_risk_min`; behind below."""

    on_track_min: float = 0.95
    at_risk_min: float = 0.8


@dataclass(frozen=True)
class Pace:
    actual: float | None
    target: float | None
    attainment: float | None  # actual / target (lower-is-better: the band between floor and target)
    expected: float | None  # expected to date
    index: float | None  # pace index: actual / expected (lower-is-better: expected / actual)
    projection: float | None  # at period end, from the run rate
    status: str
    elapsed: float  # share of the period elapsed, 0..1
    floor: float | None = None  # the band's worst value for lower-is-better
    notes: tuple[str, ...] = field(default_factory=tuple)


def attainment(actual: float | None, target: float | None, direction: str = "higher",
               floor: float | None = None) -> float | None:
    """actual / target for higher-is-better. Lower-is-better: a linear band, 1 at the target and 0 at the
    floor (the worst acceptable value; twice the target when not set), (floor - actual) / (floor - target).
    None when there is no target or no actual."""
    if actual is None or target is None:
        return None
    if direction == "lower":
        worst = floor if floor is not None else (2 * target if target > 0 else None)
        if worst is None or worst <= target:
            return 1.0 if actual <= target else 0.0
        return (worst - actual) / (worst - target)
    if target <= 0:
        return None
    return actual / target


def clamp(value: float | None, low: float = 0.0, high: float = 1.2) -> float | None:
    """Attainment as it feeds a score: clamped to a floor and a cap."""
    return None if value is None else max(low, min(high, value))


def pace(actual: float | None, target: float | None, *, kind: str, direction: str, elapsed: float,
         thresholds: Thresholds = Thresholds(), floor: float | None = None) -> Pace:
    """Where `actual` stands against `target` with `elapsed` (0..1) of the period gone.

    sum KPIs: expected-to-date = target x elapsed; pace index = actual / expected (lower-is-better:
    expected / actual); projection = actual / elapsed (the run rate to period end; the actual itself
    once the period is over or has no working days left).
    rate KPIs (ratios, averages): the whole target applies from day one; the index is the attainment
    and the projection is the current value."""
    elapsed = min(1.0, max(0.0, elapsed))
    att = attainment(actual, target, direction, floor)
    notes: list[str] = []
    if target == 0 and direction == "higher":
        return Pace(actual, 0.0, None, 0.0, None, _project(actual, kind, elapsed), ZERO_TARGET, elapsed, floor)
    if target is None or (target < 0 and direction == "higher"):
        return Pace(actual, target, None, None, None, _project(actual, kind, elapsed), NO_TARGET, elapsed, floor)
    if actual is None:
        return Pace(None, target, None, target if kind == "rate" else target * elapsed, None, None, NO_DATA,
                    elapsed, floor)
    if kind == "rate":
        expected = target
        index = att
    else:
        expected = target * elapsed
        if direction == "higher":
            index = actual / expected if expected > 0 else None
        else:
            index = expected / actual if actual > 0 else None
            if actual <= 0:
                notes.append("nothing_counted")
    projection = _project(actual, kind, elapsed)
    if index is None:
        # Not started (nothing expected yet), or lower-is-better with nothing counted: nobody is behind.
        status = ON_TRACK
    elif index >= thresholds.on_track_min:
        status = ON_TRACK
    elif index >= thresholds.at_risk_min:
        status = AT_RISK
    else:
        status = BEHIND
    return Pace(actual, target, att, expected, index, projection, status, elapsed, floor, tuple(notes))


def _project(actual: float | None, kind: str, elapsed: float) -> float | None:
    if actual is None:
        return None
    if kind == "rate" or elapsed >= 1:
        return actual
    if elapsed <= 0:
        return None
    return actual / elapsed
