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


def mismatches(values: dict[Cell, float], org: Org, year: int, decimals: int) -> dict[Cell, list[Mismatch]]:
    """Where a sum KPI's children do not add up to their parent: quarters vs the year, months vs their
    quarter (per row), teams vs the company and reps vs their team (per period). A group is checked once
    any child has a value (a parent not yet split is not a mismatch); missing cells count as 0."""
    out: dict[Cell, list[Mismatch]] = {}
    tolerance = 0.5 * 10 ** -decimals
    scopes = org.scopes()

    def check(parent: Cell, kids: list[Cell], how: str) -> None:
        present = [values[k] for k in kids if k in values]
        if not present:
            return
        total = sum(present)
        parent_value = values.get(parent)
        difference = (parent_value or 0.0) - total
        if parent_value is None or abs(difference) > tolerance:
            out.setdefault(parent, []).append(Mismatch(how=how, children=round(total, decimals),
                                                       difference=round(difference, decimals),
                                                       missing_parent=parent_value is None))

    for kind, sid in scopes:
        year_code = formulas.year_code(year)
        check((year_code, kind, sid), [(q, kind, sid) for q in formulas.children(year_code)], "period")
        for quarter in formulas.children(year_code):
            check((quarter, kind, sid), [(m, kind, sid) for m in formulas.children(quarter)], "period")
    for period in formulas.year_periods(year):
        for scope in scopes:
            kids = org.children(scope)
            if kids:
                check((period, scope[0], scope[1]), [(period, k, i) for k, i in kids], "org")
    return out

