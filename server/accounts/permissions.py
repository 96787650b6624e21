"""Who may see and change what: a rep their own records, a manager the teams they lead, admin all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from litestar import Request
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from piccolo.columns import Column
from piccolo.columns.combination import Combinable
from piccolo.query import Select

from server.accounts import hierarchy, sessions
from server.accounts.tables import TeamManager, User
from server.web import session_of


@dataclass(frozen=True)
class Actor:
    """The signed-in user, as every service sees them."""

    id: UUID
    username: str
    display_name: str
    role: str
    team_id: UUID | None
    led_team_ids: tuple[UUID, ...] = ()
    locale: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"

    @property
    def is_rep(self) -> bool:
        return self.role == "rep"


async def load_actor(user_id: str | None, epoch: int | None = None) -> Actor | None:
    """The active user with this id as an Actor, or None (unknown, deactivated, a malformed id, or an
    epoch from before their last password change when one is given). For the command line, jobs and tests;
    requests go through `session_actor`."""
    if not user_id:
        return None
    try:
        uid = UUID(str(user_id))
    except ValueError:
        return None
    row = await User.select(
        User.id, User.username, User.display_name, User.role, User.team, User.active, User.locale,
        User.session_epoch,
    ).where(User.id == uid).first()
    if not row or not row["active"] or (epoch is not None and epoch != row["session_epoch"]):
        return None
    return await _actor(row["id"], row)


async def session_actor(session: dict) -> Actor | None:
    """The signed-in user behind a decoded session cookie, or None when its server-side session is
    unknown, revoked, expired, from an older epoch, or its user is deactivated."""
    row = await sessions.live_session(sessions.token_of(session))
    return await _actor(row["user_id"], row) if row else None


async def _actor(uid: UUID, row: dict) -> Actor:
    led: tuple[UUID, ...] = ()
    if row["role"] == "manager":
        teams = await TeamManager.select(TeamManager.team).where(TeamManager.manager == uid)
        # Leading a region is leading every team below it.
        led = tuple(await hierarchy.with_descendants(t["team"] for t in teams))
    return Actor(
        id=uid,
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        team_id=row["team"],
        led_team_ids=led,
        locale=row["locale"] or "",
    )


async def provide_actor(request: Request) -> Actor:
    """Dependency for every signed-in route: refuses anonymous, signed-out and deactivated users."""
    actor = request.scope.get("state", {}).get("actor")
    if actor is None:
        actor = await session_actor(session_of(request))
        if actor is None:
            raise NotAuthorizedException()
        request.scope.setdefault("state", {})["actor"] = actor
    return actor


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise PermissionDeniedException()


@dataclass(frozen=True)
class RepScope:
    """Whose records an actor reads: everyone (`rep_ids` None), these reps, or nobody (no ids).

    The one answer to "who is in scope", from `rep_scope()`; every service that lists records narrows
    with it, as SQL (`sql`) or as a Piccolo condition (`where`, `narrow`)."""

    rep_ids: tuple[UUID, ...] | None

    @property
    def everyone(self) -> bool:
        return self.rep_ids is None

    @property
    def nobody(self) -> bool:
        return self.rep_ids == ()

    def ids(self) -> list[UUID] | None:
        """The reps as a list, None for everyone ([] for nobody)."""
        return None if self.rep_ids is None else list(self.rep_ids)

    def within(self, rep_ids: Iterable[UUID] | None) -> RepScope:
        """This scope narrowed to `rep_ids` (None: not narrowed); ids outside it are dropped."""
        if rep_ids is None:
            return self
        wanted = tuple(dict.fromkeys(rep_ids))
        if self.rep_ids is None:
            return RepScope(wanted)
        mine = set(self.rep_ids)
        return RepScope(tuple(r for r in wanted if r in mine))

    def sql(self, column: str, args: list) -> str:
        """A SQL condition on `column` (a rep id) for a raw query with `{}` placeholders; appends its
        arguments to `args`. Everyone: "1 = 1"; nobody: "1 = 0"."""
        if self.rep_ids is None:
            return "1 = 1"
        if not self.rep_ids:
            return "1 = 0"
        args.extend(self.rep_ids)
        return f"{column} IN ({', '.join('{}' for _r in self.rep_ids)})"

    def where(self, column: Column) -> Combinable | None:
        """A Piccolo condition on `column` (a rep id); None for everyone (no condition). Nobody: a
        condition no row meets (Piccolo refuses an empty IN list)."""
        if self.rep_ids is None:
            return None
        if not self.rep_ids:
            return column.is_null() & column.is_not_null()
        return column.is_in(list(self.rep_ids))

    def narrow(self, query: Select, column: Column) -> Select | None:
        """`query` limited to this scope on `column`, or None when nobody is in scope (run nothing)."""
        if self.rep_ids is None:
            return query
        if not self.rep_ids:
            return None
        return query.where(column.is_in(list(self.rep_ids)))


EVERYONE = RepScope(None)
NOBODY = RepScope(())


async def rep_scope(actor: Actor, *, rep: UUID | None = None, teams: Iterable[UUID] | None = None,
                    reps_only: bool = False) -> RepScope:
    """The users whose records `actor` may read: admin everyone, a manager the members of the teams they
    lead and of every team below them (`led_team_ids` holds those), a rep themself. `teams` narrows to the
    members of those teams and the teams below them (a manager's outside their own are dropped),
    `reps_only` to users with the rep role (what the boards count), `rep` to one user."""
    if actor.is_rep:
        scope = RepScope((actor.id,))
    else:
        allowed: list[UUID] | None = None if actor.is_admin else list(actor.led_team_ids)
        if teams is not None:
            wanted = await hierarchy.with_descendants(teams)
            allowed = [t for t in wanted if allowed is None or t in allowed]
        if allowed is None and not reps_only:
            scope = EVERYONE
        elif allowed == []:
            scope = NOBODY
        else:
            query = User.select(User.id)
            if allowed is not None:
                query = query.where(User.team.is_in(allowed))
            if reps_only:
                query = query.where(User.role == "rep")
            scope = RepScope(tuple(r["id"] for r in await query))
    return scope if rep is None else scope.within([rep])


async def visible_rep_ids(actor: Actor) -> list[UUID] | None:
    """The reps whose records `actor` may read; None means everyone (admin). `rep_scope()` as a list."""
    return (await rep_scope(actor)).ids()


async def can_see_rep(actor: Actor, rep_id: UUID) -> bool:
    if actor.is_admin or rep_id == actor.id:
        return True
    if actor.is_manager and actor.led_team_ids:
        row = await User.select(User.team).where(User.id == rep_id).first()
        return bool(row and row["team"] in actor.led_team_ids)
    return False


async def can_manage_rep(actor: Actor, rep_id: UUID) -> bool:
    """Approve, return, coach: the rep's manager or an admin, never the rep themself."""
    if rep_id == actor.id:
        return actor.is_admin
    if actor.is_admin:
        return True
    return actor.is_manager and await can_see_rep(actor, rep_id)
