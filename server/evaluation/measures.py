"""What a cycle's data items measured, for all its reps at once: set-based SQL over the period's rows.

KPI items reuse the pace engine (`server.targets.pace.compute`: one grouped query per KPI for every rep,
the target cells of the approved plan, the elapsed share); process measures are one grouped query each
below; rating items one grouped query over the cycle's submitted answers (levels and counts per rep, role
and item: never who answered).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from server import clock, db
from server.accounts import membership
from server.accounts.permissions import Actor
from server.evaluation.scoring import Span
from server.evaluation.tables import Rating
from server.targets import formulas, pace
from server.targets.calendar import calendar_overrides

SYSTEM = Actor(id=UUID(int=0), username="system", display_name="", role="admin", team_id=None)
# A daily report is on time when submitted before 10:00 the morning after its day (company time).
ON_TIME_HOURS = 34
FRESH_DAYS = 14


@dataclass
class Inputs:
    """Everything the scores of one cycle are computed from (and snapshotted)."""

    period: str
    start: date
    end: date
    as_of: date  # the last day counted: the period's end, or yesterday while it runs
    overrides: dict[date, bool]
    kpi: dict[str, dict[UUID, dict]] = field(default_factory=dict)  # code -> rep -> actual/target/expected/...
    process: dict[str, dict[UUID, dict]] = field(default_factory=dict)  # process -> rep -> value/num/den
    ratings: dict[tuple[UUID, str, str], list[int]] = field(default_factory=dict)  # (rep, role, item) -> levels sum/count
    # rep -> the stretches of the period they were a member of a team (None or absent: all of it; (): none)
    members: dict[UUID, tuple[Span, ...] | None] = field(default_factory=dict)


def as_rep(value: object) -> UUID:
    """A NOT NULL rep id as a raw query returns it: a UUID (PostgreSQL) or text (SQLite)."""
    return value if isinstance(value, UUID) else UUID(str(value))


def _instant(day: date) -> datetime:
    return datetime.combine(day, time.min, clock.company_tz()).astimezone(UTC)


async def kpi_figures(period: str, rep_ids: list[UUID], codes: list[str], today: date) -> dict[str, dict[UUID, dict]]:
    """code -> rep -> {actual, target, expected, direction, kind, floor}: the pace engine's figures."""
    if not codes or not rep_ids:
        return {}
    board = await pace.compute(SYSTEM, period, rep_ids=rep_ids, kpi_codes=codes, today=today)
    out: dict[str, dict[UUID, dict]] = {code: {} for code in codes}
    for line in board.reps:
        if line.id is None:  # pragma: no cover - rep lines carry their id
            continue
        for code, cell in line.cells.items():
            out[code][line.id] = {"actual": cell.pace.actual, "target": cell.pace.target,
                                  "expected": cell.pace.expected, "direction": cell.kpi.direction,
                                  "kind": cell.kpi.kind, "floor": cell.kpi.floor, "elapsed": cell.pace.elapsed}
    return out


def _reps_sql(column: str, rep_ids: list[UUID], args: list) -> str:
    args.extend(rep_ids)
    return f"{column} IN ({', '.join('{}' for _r in rep_ids)})"


async def process_figures(rep_ids: list[UUID], start: date, as_of: date) -> dict[str, dict[UUID, dict]]:
    """process -> rep -> {num, den}: on-time daily reports, located visits over visits, visits (over
    working days, divided by the caller), fresh open opportunities over open ones. One query each."""
    out: dict[str, dict[UUID, dict]] = {p: {} for p in ("reports_on_time", "visits_located", "visits_per_day",
                                                        "opportunities_fresh")}
    if not rep_ids or as_of < start:
        return out
    args: list = [db.timestamp_arg(_instant(start)), start, ON_TIME_HOURS / 24.0, start, as_of]
    elapsed = db.days_between("r.submitted_at", db.timestamp_param())
    day_index = db.days_between_dates("r.period_start", "{}")
    sql = (f"SELECT r.rep AS rep, SUM(CASE WHEN r.submitted_at IS NOT NULL AND {elapsed} < {day_index} + {{}}"
           " THEN 1 ELSE 0 END) AS num FROM report r WHERE r.kind = 'daily' AND r.period_start BETWEEN {} AND {}"
           f" AND {_reps_sql('r.rep', rep_ids, args)} GROUP BY r.rep")
    for row in await Rating.raw(sql, *args):
        out["reports_on_time"][as_rep(row["rep"])] = {"num": float(row["num"] or 0)}
    args = [start, as_of]
    sql = ("SELECT v.rep AS rep, SUM(CASE WHEN v.latitude IS NOT NULL AND v.longitude IS NOT NULL THEN 1 ELSE 0 END)"
           " AS located, COUNT(*) AS visits FROM visit v WHERE v.visit_date BETWEEN {} AND {}"
           f" AND {_reps_sql('v.rep', rep_ids, args)} GROUP BY v.rep")
    for row in await Rating.raw(sql, *args):
        rep = as_rep(row["rep"])
        out["visits_located"][rep] = {"num": float(row["located"] or 0), "den": float(row["visits"] or 0)}
        out["visits_per_day"][rep] = {"num": float(row["visits"] or 0)}
    finish = _instant(as_of + timedelta(days=1))
    fresh = _instant(as_of + timedelta(days=1) - timedelta(days=FRESH_DAYS))
    args = [db.timestamp_arg(fresh), db.timestamp_arg(finish)]
    sql = ("SELECT p.owner AS rep, SUM(CASE WHEN p.updated_at >= {} THEN 1 ELSE 0 END) AS fresh, COUNT(*) AS open"
           " FROM opportunity p WHERE p.stage NOT IN ('won', 'lost') AND p.created_at < {}"
           f" AND {_reps_sql('p.owner', rep_ids, args)} GROUP BY p.owner")
    for row in await Rating.raw(sql, *args):
        out["opportunities_fresh"][as_rep(row["rep"])] = {"num": float(row["fresh"] or 0),
                                                            "den": float(row["open"] or 0)}
    return out


def team_spans(stretches: list[dict], rep_ids: list[UUID], start: date,
               end: date) -> dict[UUID, tuple[Span, ...] | None]:
    """rep -> the days from `start` to `end` they were a member of a team, from `membership.teams_between`'s
    rows (valid_to exclusive; None: open): None when a member on every day, the merged stretches
    otherwise, () when on none (no row in a team over the period)."""
    found: dict[UUID, list[Span]] = {}
    for row in stretches:
        if row["team"] is None:
            continue
        first = max(row["valid_from"] or start, start)
        last = min(row["valid_to"] - timedelta(days=1), end) if row["valid_to"] is not None else end
        if first <= last:
            found.setdefault(row["rep"], []).append((first, last))
    out: dict[UUID, tuple[Span, ...] | None] = {}
    for rep in rep_ids:
        merged: list[Span] = []
        for a, b in sorted(found.get(rep, [])):
            if merged and a <= merged[-1][1] + timedelta(days=1):
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        out[rep] = None if merged == [(start, end)] else tuple(merged)
    return out


async def member_spans(rep_ids: list[UUID], start: date, end: date) -> dict[UUID, tuple[Span, ...] | None]:
    """`team_spans` of the reps by their memberships' effective dates (one query; reps without membership
    rows are members of `User.team` all along)."""
    return team_spans(await membership.teams_between(start, end), rep_ids, start, end)


async def rating_levels(cycle_id: UUID) -> dict[tuple[UUID, str, str], list[int]]:
    """(ratee, rater role, item id) -> the levels of the submitted answers. Grouped in SQL by level, so no
    row carries who answered."""
    rows = await Rating.raw(
        "SELECT a.ratee AS ratee, a.role AS role, r.item AS item, r.level AS level, COUNT(*) AS n"
        " FROM evaluation_rating r JOIN rater_assignment a ON a.id = r.assignment"
        " WHERE a.cycle = {} AND a.submitted_at IS NOT NULL GROUP BY a.ratee, a.role, r.item, r.level", cycle_id)
    out: dict[tuple[UUID, str, str], list[int]] = {}
    for row in rows:
        key = (as_rep(row["ratee"]), row["role"], str(as_rep(row["item"])))
        out.setdefault(key, []).extend([int(row["level"])] * int(row["n"]))
    return out


async def gather(cycle_id: UUID | None, period: str, rep_ids: list[UUID], kpi_codes: list[str],
                 today: date) -> Inputs:
    """The inputs of the reps' scores for a period; the ratings of one cycle (none when `cycle_id` is
    None: the caller reads each cycle's with `rating_levels`)."""
    _kind, start, end = formulas.parse_period(period)
    as_of = min(end, today - timedelta(days=1)) if today <= end else end
    overrides = await calendar_overrides(start, end)
    inputs = Inputs(period, start, end, as_of, overrides)
    inputs.kpi = await kpi_figures(period, rep_ids, kpi_codes, min(today, end + timedelta(days=1)))
    inputs.process = await process_figures(rep_ids, start, as_of)
    inputs.members = await member_spans(rep_ids, start, end)
    inputs.ratings = await rating_levels(cycle_id) if cycle_id is not None else {}
    return inputs
