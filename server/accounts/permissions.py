"""Who may see and change what: a rep their own records, a manager the teams they lead, admin all."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from litestar import Request
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from server.accounts import sessions
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
        led = tuple(t["team"] for t in teams)
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


async def visible_rep_ids(actor: Actor) -> list[UUID] | None:
    """The reps whose records `actor` may read; None means everyone (admin)."""
    if actor.is_admin:
        return None
    if actor.is_manager:
        if not actor.led_team_ids:
            return []
        rows = await User.select(User.id).where(User.team.is_in(list(actor.led_team_ids)))
        return [r["id"] for r in rows]
    return [actor.id]


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
