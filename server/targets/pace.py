"""The pace engine: actual, target and pace per KPI for every rep, team and the company in one period.

Set-based: one `actuals()` query per KPI for all reps in scope, one query for the target cells of the
approved plan, one for the work calendar, one for the thresholds (plus the KPI list and, for a manager
or admin, the reps and teams). Teams and the company roll up from their reps' (numerator, denominator)
pairs with `actuals.total`, never by averaging rates. The formulas themselves live in
`server/targets/formulas.py`; this module only fetches their inputs and assembles the board.

Who sees what: a rep only their own line; a manager the reps and teams they lead and the sum of those
teams; admin every rep and team and the company.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from server import clock, db
from server.accounts import hierarchy, membership
from server.accounts.permissions import Actor
from server.accounts.tables import Team, User
from server.targets import actuals, formulas
from server.targets.actuals import KpiDef, Pair
from server.targets.calendar import calendar_overrides, thresholds
from server.targets.formulas import Pace, Thresholds
from server.targets.tables import COMPANY_SCOPE_ID, Target

REP, TEAM, TEAMS, COMPANY = "rep", "team", "teams", "company"
COMPANY_ID = UUID(COMPANY_SCOPE_ID)


@dataclass(frozen=True)
class Cell:
    """One KPI of one line: the measured pair, the value, the target and the pace."""

    kpi: KpiDef
    pair: Pair
    pace: Pace

    @property
    def actual(self) -> float | None:
        return self.pace.actual

    @property
    def target(self) -> float | None:
        return self.pace.target

    @property
    def status(self) -> str:
        return self.pace.status


@dataclass
class Line:
    """A rep, a team, a manager's teams together, or the company."""

    kind: str
    id: UUID | None
    name: str
    team_id: UUID | None = None
    team_name: str = ""
    active: bool = True
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        """The scope as the explain page names it: rep:ID, team:ID, teams or company."""
        if self.kind in (REP, TEAM):
            return f"{self.kind}:{self.id}"
        return self.kind


@dataclass
class PaceBoard:
    period: str
    period_kind: str
    start: date
    end: date
    today: date
    kpis: list[KpiDef]
    thresholds: Thresholds
    overrides: dict[date, bool]
    # Month weights (seasonality) used for a KPI's elapsed share; None: working days only.
    weights: dict[str, dict[str, float] | None]
    elapsed: dict[str, float]
    has_plan: bool
    reps: list[Line] = field(default_factory=list)
    teams: list[Line] = field(default_factory=list)
    total: Line | None = None  # admin: the company; manager: their teams together (when more than one)

    def lines(self) -> list[Line]:
        return [*self.reps, *self.teams, *([self.total] if self.total else [])]

    def line(self, scope: str) -> Line | None:
        return next((ln for ln in self.lines() if ln.scope == scope), None)

    def kpi(self, code: str) -> KpiDef | None:
        return next((k for k in self.kpis if k.code == code), None)


# --- Inputs --------------------------------------------------------------------------------------


async def targets(period: str, year: int, kpi_ids: list[UUID], scopes: list[UUID] | None) -> dict[tuple[UUID, str, UUID], float]:
    """(kpi id, scope kind, scope id) -> target value, from the approved plan of `year` (the most recently
    approved one if there are several), for the cells of `period`. `scopes` narrows the scope ids (None:
    all). One query."""
    if not kpi_ids or scopes == []:
        return {}
    query = Target.select(
        Target.kpi, Target.scope_kind, Target.scope_id, Target.value, Target.plan.approved_at.as_alias("approved_at"),
        Target.plan.effective_from.as_alias("effective_from"), Target.period_end,
    ).where(
        (Target.plan.year == year) & (Target.plan.status == "approved") & (Target.period == period)
        & Target.kpi.is_in(kpi_ids)
    )
    if scopes is not None:
        query = query.where(Target.scope_id.is_in(scopes))
    rows = in_force(await query)
    out: dict[tuple[UUID, str, UUID], float] = {}
    for r in rows:  # latest approval last, so it wins
        out[(_id(r["kpi"]), r["scope_kind"], _id(r["scope_id"]))] = float(r["value"])
    return out


def in_force(rows: list[dict]) -> list[dict]:
    """Target cells of approved plans (with `approved_at`, `effective_from`, `period_end`), keeping those
    in force for their period, latest approval last (so it wins): a revised plan's cells count for the
    periods that end on or after the date it takes over from; before it, the plan approved earlier stays."""
    kept = [r for r in rows if r["effective_from"] is None
            or (db.as_date(r["period_end"]) or date.max) >= (db.as_date(r["effective_from"]) or date.min)]
    kept.sort(key=lambda r: (r["approved_at"] is not None, str(r["approved_at"] or "")))
    return kept


def _per_rep(pairs: dict[actuals.TeamRep, Pair]) -> dict[UUID, Pair]:
    """(team, rep) pairs rolled up per rep."""
    out: dict[UUID, list[Pair]] = {}
    for (_team, rid), pair in pairs.items():
        out.setdefault(rid, []).append(pair)
    return {rid: actuals.total(found) for rid, found in out.items()}


def _id(value: object) -> UUID:
    """A NOT NULL id as a query returns it: a UUID (PostgreSQL), text (SQLite)."""
    return value if isinstance(value, UUID) else UUID(str(value))


async def seasonal_weights(kpi: KpiDef, start: date, end: date) -> dict[str, float] | None:
    """Month weights for a period of several months: last year's company actuals by month
    (formulas.seasonality), keyed by this year's month codes; None without usable history."""
    if kpi.kind != "sum" or (start.year, start.month) == (end.year, end.month):
        return None
    last = start.year - 1
    found = await actuals.by_month(kpi, date(last, 1, 1), date(last, 12, 31))
    history = [actuals.value_of(kpi, found.get((None, formulas.month_code(last, m)))) or 0.0 for m in range(1, 13)]
    if not formulas.full_year(history):
        return None  # no season to learn from part of a year: the months count by their working days
    weights = formulas.seasonality(history)
    return {formulas.month_code(start.year, m): weights[m - 1] for m in range(1, 13)}


# --- The board -----------------------------------------------------------------------------------


async def compute(actor: Actor, period: str, *, rep_ids: list[UUID] | None = None,
                  kpi_codes: list[str] | None = None, today: date | None = None,
                  team_ids: list[UUID] | None = None) -> PaceBoard:
    """The pace board of `period` ("2026", "2026-Q1", "2026-03") for what `actor` may see, narrowed to
    `rep_ids` and/or `team_ids` when given (ids outside the actor's scope are ignored) and to `kpi_codes`.
    ValueError for a malformed period code."""
    kind, start, end = formulas.parse_period(period)
    today = today or clock.today()
    kpis = await actuals.kpis()
    if kpi_codes is not None:
        wanted = set(kpi_codes)
        kpis = [k for k in kpis if k.code in wanted]
    thresholds_ = await thresholds()
    overrides = await calendar_overrides(start, end)

    # Who is in scope: rep lines, team lines.
    reps: list[Line] = []
    teams: dict[UUID, Line] = {}
    show_total = False
    by_membership = False
    allowed_teams: list[UUID] | None = None
    parent_of: dict[UUID, UUID | None] = {}
    if actor.is_rep:
        if rep_ids is None or actor.id in rep_ids:
            reps = [Line(REP, actor.id, actor.display_name, actor.team_id)]
        scope_rep_ids: list[UUID] | None = [ln.id for ln in reps if ln.id is not None]
    else:
        allowed_teams = None if actor.is_admin else list(actor.led_team_ids)
        if team_ids is not None:
            # A region opened: its teams below come with it.
            wanted_teams = await hierarchy.with_descendants(team_ids)
            allowed_teams = [t for t in wanted_teams if allowed_teams is None or t in allowed_teams]
        team_query = Team.select(Team.id, Team.name, Team.parent)
        if allowed_teams is not None and allowed_teams:
            team_query = team_query.where(Team.id.is_in(allowed_teams))
        team_rows = [] if allowed_teams == [] else await team_query
        names = {t["id"]: t["name"] for t in team_rows}
        parent_of.update({t["id"]: t["parent"] for t in team_rows})
        by_membership = rep_ids is None
        query = User.select(User.id, User.display_name, User.team, User.active).where(User.role == "rep")
        if not by_membership and allowed_teams:
            query = query.where(User.team.is_in(allowed_teams))
        if not by_membership and rep_ids:
            query = query.where(User.id.is_in(rep_ids))
        rows = [] if allowed_teams == [] or rep_ids == [] else await query
        if by_membership:
            # A team's board: each record counts for the team its rep was in on the record's date; a rep's
            # line sits under their team on the period's last day (or, gone from the teams shown by then,
            # the last of them they were in), and adds up what they did in the teams shown.
            stretches = await membership.teams_between(start, end)
            end_team = membership.team_on(stretches, end)
            shown = None if allowed_teams is None else set(allowed_teams)
            last_shown: dict[UUID, UUID] = {}
            for st in sorted(stretches, key=lambda r: r["valid_from"] or membership.FAR_PAST):
                if st["team"] is not None and (shown is None or st["team"] in shown):
                    last_shown[st["rep"]] = st["team"]
            placed = []
            for r in rows:
                team = end_team.get(r["id"], r["team"])
                if shown is not None and team not in shown:
                    if r["id"] not in last_shown:
                        continue
                    team = last_shown[r["id"]]
                placed.append({**r, "team": team})
            rows = placed
        if rep_ids is None:
            teams = {t["id"]: Line(TEAM, t["id"], t["name"]) for t in team_rows}
        reps = [Line(REP, r["id"], r["display_name"], r["team"], names.get(r["team"], ""), bool(r["active"]))
                for r in rows]
        for ln in reps:
            if ln.team_id is not None and ln.team_id in names and ln.team_id not in teams:
                teams[ln.team_id] = Line(TEAM, ln.team_id, names[ln.team_id])
        # Every rep of the company (no narrowing): one query per KPI without an IN list.
        whole_company = actor.is_admin and rep_ids is None and team_ids is None
        scope_rep_ids = None if whole_company else [ln.id for ln in reps if ln.id is not None]
        show_total = (actor.is_admin and rep_ids is None and team_ids is None) or (
            actor.is_manager and rep_ids is None and team_ids is None and len(teams) > 1)

    # Target cells: the reps', their teams', the company's.
    scope_ids: list[UUID] | None
    if scope_rep_ids is None:
        scope_ids = None
    else:
        scope_ids = [*scope_rep_ids, *teams, COMPANY_ID]
    cells = await targets(period, start.year, [k.id for k in kpis], scope_ids)

    board = PaceBoard(period, kind, start, end, today, kpis, thresholds_, overrides, {}, {},
                      has_plan=bool(cells), reps=reps, teams=[])
    total_line = None
    if show_total:
        total_line = Line(COMPANY, None, "") if actor.is_admin else Line(TEAMS, None, "")

    by_team_rep: dict[str, dict[actuals.TeamRep, Pair]] = {}
    if by_membership:
        by_team_rep = await actuals.team_actuals_many(kpis, start, end, allowed_teams)
        found = {code: _per_rep(pairs) for code, pairs in by_team_rep.items()}
    else:
        found = await actuals.actuals_many(kpis, start, end, scope_rep_ids)
    rep_ids_shown = {ln.id for ln in reps}
    tree = {tid: parent_of.get(tid) for tid in teams}
    for kpi in kpis:
        weights = await seasonal_weights(kpi, start, end)
        elapsed = formulas.elapsed_share(start, end, today, overrides, weights)
        board.weights[kpi.code] = weights
        board.elapsed[kpi.code] = elapsed
        pairs = found[kpi.code]

        def cell(pair: Pair, target: float | None, kpi: KpiDef = kpi, elapsed: float = elapsed) -> Cell:
            value = actuals.value_of(kpi, pair)
            return Cell(kpi, pair, formulas.pace(value, target, kind=kpi.kind, direction=kpi.direction,
                                                 elapsed=elapsed, thresholds=thresholds_, floor=kpi.floor))

        by_team: dict[UUID, list[Pair]] = {}
        for ln in reps:
            rid = ln.id
            if rid is None:  # pragma: no cover - a rep's line always has their id
                continue
            pair = pairs.get(rid, (0.0, 0.0))
            ln.cells[kpi.code] = cell(pair, cells.get((kpi.id, REP, rid)))
            if ln.team_id is not None and not by_membership:
                by_team.setdefault(ln.team_id, []).append(pair)
        for (tid, rid), pair in by_team_rep.get(kpi.code, {}).items():
            # By membership: a team adds up its reps' records of the days they were in it.
            if tid is not None and rid in rep_ids_shown:
                by_team.setdefault(tid, []).append(pair)
        for tid, team in teams.items():
            # A region adds up its own records and every team's below it.
            own = [p for below in hierarchy.below(tree, [tid]) if below in teams for p in by_team.get(below, [])]
            team.cells[kpi.code] = cell(actuals.total(own), cells.get((kpi.id, TEAM, tid)))
        if total_line is not None:
            if total_line.kind == COMPANY:
                total_line.cells[kpi.code] = cell(actuals.total(pairs.values()), cells.get((kpi.id, COMPANY, COMPANY_ID)))
            else:
                # The teams at the top of the manager's tree: a region's target already holds its teams'.
                team_targets = [cells.get((kpi.id, TEAM, tid)) for tid in teams if tree.get(tid) not in teams]
                set_targets = [t for t in team_targets if t is not None]
                target: float | None = None
                if team_targets and len(set_targets) == len(team_targets):
                    if kpi.kind == "sum":
                        target = sum(set_targets)
                    elif len(set(set_targets)) == 1:
                        target = set_targets[0]
                total_line.cells[kpi.code] = cell(actuals.total(actuals.total(by_team.get(tid, []))
                                                                for tid in teams), target)

    # An inactive rep's line shows only when they have results in the period (their numbers still count).
    board.reps = sorted(
        [ln for ln in reps if ln.active or any(c.pair != (0.0, 0.0) for c in ln.cells.values())],
        key=lambda ln: (ln.team_name, ln.name))
    board.teams = sorted(teams.values(), key=lambda ln: ln.name)
    board.total = total_line
    return board
