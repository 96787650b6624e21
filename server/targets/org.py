"""The organisation a plan splits over: the company, its teams and their reps, who reads and writes
which row, and where a sum KPI's children do not add up to their parent (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from litestar.exceptions import NotFoundException, PermissionDeniedException

from server.accounts.permissions import Actor
from server.accounts.tables import Team, User
from server.i18n import _
from server.targets import formulas
from server.targets.tables import COMPANY_SCOPE_ID, Target

COMPANY_ID = UUID(COMPANY_SCOPE_ID)


# --- The organisation a plan splits over ---------------------------------------------------------

Scope = tuple[str, UUID]  # (scope kind, id)
COMPANY: Scope = ("company", COMPANY_ID)
Cell = tuple[str, str, UUID]  # (period, scope kind, scope id)


@dataclass
class Org:
    """Teams and reps, as the rows of a plan: the company, each team, each rep under their team (reps
    without a team sit directly under the company)."""

    teams: list[dict]
    reps: dict[UUID | None, list[dict]]  # team id (or None) -> reps
    names: dict[Scope, str] = field(default_factory=dict)
    team_of: dict[UUID, UUID | None] = field(default_factory=dict)

    # team id -> the team it sits under (None: the company): company → region → team → rep.
    parent_of: dict[UUID, UUID | None] = field(default_factory=dict)

    def _subteams(self, parent: UUID | None) -> list[Scope]:
        return [("team", t["id"]) for t in self.teams if self.parent_of.get(t["id"]) == parent]

    def children(self, scope: Scope) -> list[Scope]:
        kind, sid = scope
        if kind == "company":
            return self._subteams(None) + [("rep", r["id"]) for r in self.reps.get(None, [])]
        if kind == "team":
            return self._subteams(sid) + [("rep", r["id"]) for r in self.reps.get(sid, [])]
        return []

    def parent(self, scope: Scope) -> Scope | None:
        kind, sid = scope
        if kind == "rep":
            team = self.team_of.get(sid)
            return ("team", team) if team else COMPANY
        if kind == "team":
            above = self.parent_of.get(sid)
            return ("team", above) if above else COMPANY
        return None

    def scopes(self) -> list[Scope]:
        """Every row, parents before children, in display order (a region, its teams, each with its reps)."""
        out: list[Scope] = []

        def walk(scope: Scope) -> None:
            out.append(scope)
            for child in self.children(scope):
                walk(child)

        walk(COMPANY)
        return out

    def rep_ids(self, scope: Scope) -> list[UUID] | None:
        """The reps whose results make up a scope's actuals (None: everyone, for the company; a region:
        the reps of every team below it)."""
        kind, sid = scope
        if kind == "company":
            return None
        if kind == "team":
            teams = [sid, *[t for k, t in self._below(scope) if k == "team"]]
            return [r["id"] for team in teams for r in self.reps.get(team, [])]
        return [sid]

    def _below(self, scope: Scope) -> list[Scope]:
        out: list[Scope] = []
        for child in self.children(scope):
            out.append(child)
            out.extend(self._below(child))
        return out

    def knows(self, scope: Scope) -> bool:
        return scope == COMPANY or scope in self.names


async def load_org(plan_id: UUID | None = None) -> Org:
    """Teams by name; active reps (and inactive ones who still have cells in the plan) by name."""
    teams = await Team.select(Team.id, Team.name, Team.parent).order_by(Team.name)
    reps = await User.select(User.id, User.display_name, User.team, User.active).where(User.role == "rep").order_by(
        User.display_name)
    with_cells: set[UUID] = set()
    if plan_id is not None and any(not r["active"] for r in reps):
        rows = await Target.select(Target.scope_id).where((Target.plan == plan_id) & (Target.scope_kind == "rep")).distinct()
        with_cells = {r["scope_id"] for r in rows}
    team_ids = {t["id"] for t in teams}
    org = Org(teams=teams, reps={}, parent_of={t["id"]: t["parent"] for t in teams if t["parent"] in team_ids})
    org.names[COMPANY] = _("Company")
    for t in teams:
        org.names[("team", t["id"])] = t["name"]
    for r in reps:
        if not r["active"] and r["id"] not in with_cells:
            continue
        team = r["team"] if r["team"] in team_ids else None
        org.reps.setdefault(team, []).append({"id": r["id"], "name": r["display_name"], "active": r["active"]})
        org.names[("rep", r["id"])] = r["display_name"]
        org.team_of[r["id"]] = team
    return org


def can_read_scope(actor: Actor, org: Org, scope: Scope) -> bool:
    if actor.is_admin or scope == COMPANY:
        return True
    if not actor.is_manager:
        return False
    kind, sid = scope
    if kind == "team":
        return sid in actor.led_team_ids
    return org.team_of.get(sid) in actor.led_team_ids and org.team_of.get(sid) is not None


def can_write_scope(actor: Actor, org: Org, scope: Scope) -> bool:
    if actor.is_admin:
        return True
    return scope != COMPANY and can_read_scope(actor, org, scope)


def check_scope(actor: Actor, org: Org, scope: Scope) -> None:
    """A scope the actor may write: unknown or another manager's → 404, the company row → 403."""
    if not org.knows(scope) or not can_read_scope(actor, org, scope):
        raise NotFoundException()
    if not can_write_scope(actor, org, scope):
        raise PermissionDeniedException(_("Only an admin changes the company's targets."))


def parse_scope(kind: str, raw_id: str) -> Scope | None:
    if kind == "company":
        return COMPANY
    if kind not in ("team", "rep"):
        return None
    try:
        return kind, UUID(str(raw_id))
    except (ValueError, TypeError, AttributeError):
        return None


def scope_key(scope: Scope) -> str:
    return f"{scope[0]}:{scope[1]}"


@dataclass(frozen=True)
class Mismatch:
    """Children that do not add up to their parent cell: by period (quarters, months) or by org (teams,
    reps); `difference` = parent - children (the parent counts as 0 when it is missing)."""

    how: str  # period | org
    children: float
    difference: float
    missing_parent: bool


MonthTeams = dict[str, dict[UUID, UUID | None]]  # "YYYY-MM" -> rep -> their team that month (`membership`)


def mismatches(values: dict[Cell, float], org: Org, year: int, decimals: int,
               month_teams: MonthTeams | None = None) -> dict[Cell, list[Mismatch]]:
    """Where a sum KPI's children do not add up to their parent: quarters vs the year, months vs their
    quarter (per row), teams vs the company and reps vs their team (per period). A group is checked once
    any child has a value other than 0, or every child has one (a parent not yet split is not a mismatch);
    missing cells count as 0.

    Reps count in the team of each month (`month_teams`, from `membership.teams_by_month`; None: their
    team today): a rep moved in July adds up in the old team for January to June and in the new one
    from July. For a quarter or the year, a rep in the team for part of it counts with the sum of those
    months' cells, a rep in it throughout with their cell of the period."""
    out: dict[Cell, list[Mismatch]] = {}
    tolerance = 0.5 * 10 ** -decimals
    scopes = org.scopes()

    def check(parent: Cell, items: list[float | None], how: str) -> None:
        present = [v for v in items if v is not None]
        # Only zeros beside missing cells: a split that left a rep at 0 for another team's months.
        if not present or (len(present) < len(items) and not any(present)):
            return
        total = sum(present)
        parent_value = values.get(parent)
        difference = (parent_value or 0.0) - total
        if parent_value is None or abs(difference) > tolerance:
            out.setdefault(parent, []).append(Mismatch(how=how, children=round(total, decimals),
                                                       difference=round(difference, decimals),
                                                       missing_parent=parent_value is None))

    def cells(kids: list[Cell]) -> list[float | None]:
        return [values.get(k) for k in kids]

    for kind, sid in scopes:
        year_code = formulas.year_code(year)
        check((year_code, kind, sid), cells([(q, kind, sid) for q in formulas.children(year_code)]), "period")
        for quarter in formulas.children(year_code):
            check((quarter, kind, sid), cells([(m, kind, sid) for m in formulas.children(quarter)]), "period")
    known = {t["id"] for t in org.teams}
    for period in formulas.year_periods(year):
        reps = _reps_by_team(values, org, period, month_teams, known)
        for scope in scopes:
            kids = org.children(scope)
            if scope[0] == "rep" or (not kids and scope[1] not in reps):
                continue
            team = None if scope[0] == "company" else scope[1]
            present = cells([(period, k, i) for k, i in kids if k == "team"]) + reps.get(team, [])
            check((period, scope[0], scope[1]), present, "org")
    return out


def _reps_by_team(values: dict[Cell, float], org: Org, period: str, month_teams: MonthTeams | None,
                  known: set[UUID]) -> dict[UUID | None, list[float | None]]:
    """team id (None: no team, under the company) -> what each of its reps adds to `period` (None: no cell)."""
    out: dict[UUID | None, list[float | None]] = {}
    months = formulas.months(period)
    for rep, today in org.team_of.items():
        by_team: dict[UUID | None, list[str]] = {}
        for month in months:
            team = today if month_teams is None or rep not in month_teams.get(month, {}) else month_teams[month][rep]
            by_team.setdefault(team if team in known else None, []).append(month)
        for team, inside in by_team.items():
            if len(inside) == len(months):
                part = values.get((period, "rep", rep))
            else:
                found = [values[(m, "rep", rep)] for m in inside if (m, "rep", rep) in values]
                part = sum(found) if found else None
            out.setdefault(team, []).append(part)
    return out
