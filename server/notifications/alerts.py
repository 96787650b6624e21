"""The alert rules, evaluated for every rep at once: a handful of grouped queries (the pace engine's, one
per rule otherwise), never a query per rep. Each finding becomes a notification to the rep and, per team,
one digest to each of its managers; `services.notify` drops what was already said (dedup key).
The money and counts are the boards' own: the lagging rule reads the pace engine (`server/targets/actuals`:
returns, credit notes, corrections and refunds included, voided orders left out), the weekly order counts
the same live order splits (`actuals.LIVE_ORDER_SPLITS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID

from server import clock, db
from server.accounts.permissions import Actor
from server.accounts.tables import User
from server.notifications import rules, services
from server.notifications.services import NewNotification
from server.targets import actuals, formulas, pace
from server.targets.calendar import calendar_overrides

SYSTEM = Actor(id=UUID(int=0), username="system", display_name="", role="admin", team_id=None)


@dataclass
class Finding:
    """One rep's alert: what a rep notification and a line of the manager's digest are made from."""

    rule: str
    rep: UUID
    subject: str
    period: str
    level: str
    params: dict
    url: str
    digest_line: dict = field(default_factory=dict)


@dataclass
class People:
    reps: dict[UUID, dict]  # active reps: name, team
    managers: dict[UUID, list[UUID]]  # team -> its managers (active)
    teams: dict[UUID, str]


async def people() -> People:
    reps = await User.select(User.id, User.display_name, User.team).where((User.role == "rep") & (User.active == True))  # noqa: E712 - Piccolo builds SQL from ==
    leads = await User.raw(
        "SELECT tm.team AS team, tm.manager AS manager FROM team_manager tm JOIN app_user u ON u.id = tm.manager"
        " WHERE u.active = TRUE")
    teams = await User.raw("SELECT id, name FROM team")
    managers: dict[UUID, list[UUID]] = {}
    for r in leads:
        managers.setdefault(db.as_uuid(r["team"]), []).append(db.as_uuid(r["manager"]))  # type: ignore[arg-type]  # NOT NULL columns
    return People(reps={r["id"]: {"name": r["display_name"], "team": r["team"]} for r in reps}, managers=managers,
                  teams={db.as_uuid(t["id"]): t["name"] for t in teams})  # type: ignore[misc]  # primary keys: never None


# --- The rules ---------------------------------------------------------------------------------


async def lagging(today: date, params: dict, who: People) -> list[Finding]:
    period = formulas.period_of(today, formulas.MONTH)
    board = await pace.compute(SYSTEM, period, today=today)
    min_elapsed = float(params.get("min_elapsed", 0.25))
    found = []
    for line in board.reps:
        if line.id not in who.reps:
            continue
        for kpi in board.kpis:
            cell = line.cells.get(kpi.code)
            if cell is None:
                continue
            level = rules.lagging_level(cell.status, board.elapsed.get(kpi.code, 0.0), min_elapsed)
            if level is None:
                continue
            p = cell.pace
            data = {"kpi": kpi.code, "builtin": kpi.builtin, "kpi_name": kpi.name, "unit": kpi.unit,
                    "actual": p.actual, "target": p.target, "expected": p.expected, "index": p.index,
                    "elapsed": p.elapsed, "status": level, "period": period}
            found.append(Finding(
                "lagging", line.id, f"{line.id}:{kpi.code}", period, level, data,
                f"/dashboard/explain?kpi={kpi.code}&scope=rep:{line.id}&period={period}",
                {"name": line.name, "kpi": kpi.code, "builtin": kpi.builtin, "kpi_name": kpi.name, "status": level,
                 "index": p.index}))
    return found


async def inactivity(today: date, params: dict, who: People, overrides: dict[date, bool]) -> list[Finding]:
    days = int(params.get("days", 3))
    since = today - timedelta(days=max(30, days * 3))
    rows = await User.raw(
        "SELECT u.id AS rep, MAX(v.visit_date) AS last FROM app_user u LEFT JOIN visit v ON v.rep = u.id"
        " AND v.visit_date >= {} AND v.visit_date <= {} WHERE u.role = 'rep' AND u.active = TRUE GROUP BY u.id",
        since, today)
    found = []
    for r in rows:
        rep, last = db.as_uuid(r["rep"]), db.as_date(r["last"])
        if rep not in who.reps:
            continue
        gap = rules.inactive_working_days(last, today, overrides, since)
        if gap < days:
            continue
        found.append(Finding("inactivity", rep, str(rep), str(last or since), "", {"days": gap, "last": str(last or "")},
                             "/visits/new", {"name": who.reps[rep]["name"], "days": gap}))
    return found


def _week_index(day_col: str) -> str:
    # 0: the week of `ws` (a Monday, the `{}` parameter); 1 the week before, ... for dates from ws - 56 to
    # ws + 6 (whole days: integer division rounds toward zero on both engines).
    return f"(({db.days_between_dates('{}', day_col)}) + 6) / 7"


async def weekly_counts(ws: date, today: date) -> dict[str, dict[UUID, dict[int, float]]]:
    """measure -> rep -> week index -> count, for this week and the 8 before, two grouped queries."""
    start = ws - timedelta(weeks=rules.HISTORY_WEEKS)
    out: dict[str, dict[UUID, dict[int, float]]] = {}
    for measure, table, rep_col, day_col in (("visits", "visit v", "v.rep", "v.visit_date"),
                                             ("orders", actuals.LIVE_ORDER_SPLITS, "s.rep", "s.order_date")):
        index = _week_index(day_col)
        rows = await User.raw(
            f"SELECT {rep_col} AS rep, {index} AS w, COUNT(*) AS n FROM {table}"
            f" WHERE {day_col} >= {{}} AND {day_col} <= {{}} GROUP BY {rep_col}, w", ws, start, today)
        by_rep: dict[UUID, dict[int, float]] = {}
        for r in rows:
            by_rep.setdefault(db.as_uuid(r["rep"]), {})[int(r["w"])] = float(r["n"])  # type: ignore[arg-type]  # rep is NOT NULL
        out[measure] = by_rep
    return out


async def anomaly(today: date, params: dict, who: People, overrides: dict[date, bool]) -> list[Finding]:
    fraction = float(params.get("fraction", 0.5))
    ws = clock.week_start(today)
    week_elapsed = formulas.elapsed_share(ws, ws + timedelta(days=6), today, overrides)
    counts = await weekly_counts(ws, today)
    found = []
    for measure, by_rep in counts.items():
        for rep, info in who.reps.items():
            weeks = by_rep.get(rep, {})
            below, usual, expected = rules.anomaly(weeks.get(0, 0.0), rules.weekly_history(weeks), fraction, week_elapsed)
            if not below:
                continue
            data = {"measure": measure, "actual": weeks.get(0, 0.0), "median": usual, "expected": expected}
            found.append(Finding("anomaly", rep, f"{rep}:{measure}", ws.isoformat(), "below", data,
                                 "/visits/new" if measure == "visits" else "/sales",
                                 {"name": info["name"], **data}))
    return found


async def missing_reports(now: datetime, params: dict, who: People, overrides: dict[date, bool]) -> list[Finding]:
    cutoff = rules.parse_hhmm(str(params.get("cutoff", "18:00"))) or rules.parse_hhmm("18:00")
    assert cutoff is not None
    day = rules.report_due(now, clock.company_tz(), cutoff, overrides)
    if day is None:
        return []
    rows = await User.raw(
        "SELECT u.id AS rep FROM app_user u WHERE u.role = 'rep' AND u.active = TRUE AND NOT EXISTS ("
        "SELECT 1 FROM report r WHERE r.rep = u.id AND r.kind = 'daily' AND r.period_start = {}"
        " AND r.status IN ('submitted', 'approved'))", day)
    found = []
    for r in rows:
        rep = db.as_uuid(r["rep"])
        if rep not in who.reps:
            continue
        found.append(Finding("missing_report", rep, str(rep), day.isoformat(), "",
                             {"day": day.isoformat(), "cutoff": cutoff.strftime("%H:%M")},
                             f"/reports/daily/{day.isoformat()}", {"name": who.reps[rep]["name"]}))
    return found


# --- From findings to notifications --------------------------------------------------------------

DIGEST_URLS = {"lagging": "/dashboard", "inactivity": "/team/visits", "anomaly": "/dashboard",
               "missing_report": "/manager/queue"}


def notifications_for(findings: list[Finding], rule: dict, who: People) -> list[NewNotification]:
    """A notification per finding to the rep; per team, one digest to each of its managers."""
    out: list[NewNotification] = []
    if rule.get("to_rep", True):
        for f in findings:
            out.append(NewNotification(f.rep, f.rule, f.rule, f.subject, f.period, f.level, f.params, f.url))
    if rule.get("to_manager", True):
        by_team: dict[UUID, list[Finding]] = {}
        for f in findings:
            team = who.reps.get(f.rep, {}).get("team")
            if team is not None:
                by_team.setdefault(team, []).append(f)
        for team, items in by_team.items():
            items.sort(key=lambda f: (f.digest_line.get("name", ""), f.subject))
            level = rules.digest_level([(f.subject, f.level) for f in items])
            period = items[0].period
            params = {"team": who.teams.get(team, ""), "day": items[0].params.get("day", ""),
                      "people": [f.digest_line for f in items][:30]}
            for manager in who.managers.get(team, []):
                out.append(NewNotification(manager, f"{items[0].rule}_digest", items[0].rule, f"team:{team}", period,
                                           level, params, DIGEST_URLS.get(items[0].rule, "/dashboard")))
    return out


async def evaluate(now: datetime | None = None) -> dict[str, int]:
    """Every enabled rule for every rep; returns how many findings and new notifications there were."""
    now = now or clock.now()
    today = now.astimezone(clock.company_tz()).date()
    overrides = await calendar_overrides(today - timedelta(days=120), today + timedelta(days=7))
    config = await services.alert_rules()
    who = await people()
    counts: dict[str, int] = {}
    items: list[NewNotification] = []
    working = formulas.is_working(today, overrides)
    for code in ("lagging", "inactivity", "anomaly", "missing_report"):
        rule = config.get(code)
        if not rule or not rule["enabled"]:
            continue
        if code == "lagging":
            findings = await lagging(today, rule["params"], who) if working else []
        elif code == "inactivity":
            findings = await inactivity(today, rule["params"], who, overrides) if working else []
        elif code == "anomaly":
            findings = await anomaly(today, rule["params"], who, overrides) if working else []
        else:
            findings = await missing_reports(now, rule["params"], who, overrides)
        counts[code] = len(findings)
        items += notifications_for(findings, rule, who)
    created = await services.notify(items, now)
    counts["created"] = len(created)
    return counts
