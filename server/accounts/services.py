"""Accounts: passwords, sign-in with rate limiting, users and teams."""

from __future__ import annotations

import gzip
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from ipaddress import ip_address, ip_network
from pathlib import Path
from uuid import UUID, uuid4

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.exceptions import NotFoundException

from server import clock, db, validation
from server.accounts import hierarchy, membership, sessions
from server.accounts.permissions import Actor, require_role
from server.accounts.tables import REP_KINDS, ROLES, LoginFailure, Team, TeamManager, User
from server.i18n import LOCALES, _
from server.web import FieldErrors

# argon2-cffi's defaults are Argon2id (RFC 9106 low-memory profile).
hasher = PasswordHasher()
USERNAME_RE = re.compile(r"^[a-zA-Z0-9_.-]{2,64}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 200
COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"


def hash_password(password: str) -> str:
    return hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A valid hash to verify against when the username is unknown, so timing does not reveal it.
_DUMMY_HASH = hash_password("not-a-real-password")


class LoginThrottle:
    """Failed sign-ins per username and per client address in a sliding window, counted in the database
    (`login_failure`), so the limit holds however many server processes share it."""

    def __init__(self, max_attempts: int, window_seconds: int):
        self.max_attempts = max_attempts
        self.window = timedelta(seconds=window_seconds)

    @staticmethod
    def _keys(username: str, client: str) -> list[str]:
        return [f"u:{username.strip().lower()[:190]}", f"c:{client[:190]}"]

    async def blocked(self, username: str, client: str) -> bool:
        since = _now() - self.window
        for key in self._keys(username, client):
            recent = await LoginFailure.count().where((LoginFailure.key == key) & (LoginFailure.failed_at > since))
            if recent >= self.max_attempts:
                return True
        return False

    async def failed(self, username: str, client: str) -> None:
        now = _now()
        keys = self._keys(username, client)
        await LoginFailure.insert(*(LoginFailure(id=uuid4(), key=k, failed_at=now) for k in keys))
        # Old failures no longer count: forget them as we go.
        await LoginFailure.delete().where(LoginFailure.key.is_in(keys) & (LoginFailure.failed_at <= now - self.window))

    async def succeeded(self, username: str) -> None:
        await LoginFailure.delete().where(LoginFailure.key == self._keys(username, "")[0])


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """The address a request came from: the peer, unless the peer is a trusted proxy, in which case the
    nearest address in X-Forwarded-For that is not itself a trusted proxy. With no proxy trusted (the
    default) X-Forwarded-For is ignored, so a client cannot pick the address it is counted under."""
    nets = []
    for entry in trusted:
        try:
            nets.append(ip_network(entry.strip(), strict=False))
        except ValueError:
            continue

    def is_trusted(address: str) -> bool:
        try:
            ip = ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in nets)

    address = peer or "unknown"
    if not nets or not is_trusted(address):
        return address
    for hop in reversed([h.strip() for h in (forwarded_for or "").split(",") if h.strip()]):
        if not is_trusted(hop):
            try:
                return str(ip_address(hop))
            except ValueError:
                return address  # a garbled header: count the proxy, not a made-up name
    return address


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The common passwords shipped with the app (see server/accounts/data/README.md)."""
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as fh:
        return frozenset(line.strip() for line in fh if line.strip())


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD:
        return _("The password needs at least %(n)s characters.", n=MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        return _("At most %(n)s characters.", n=MAX_PASSWORD)
    if password.strip().lower() in common_passwords():
        return _("This password is too common. Choose one that is harder to guess.")
    return None


async def authenticate(username: str, password: str) -> dict | None:
    """The active user with this username and password, or None."""
    row = await User.select(User.id, User.password_hash, User.active, User.locale, User.session_epoch).where(
        User.username == username.strip()
    ).first()
    if not row:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(row["password_hash"], password) or not row["active"]:
        return None
    if hasher.check_needs_rehash(row["password_hash"]):
        await User.update({User.password_hash: hash_password(password)}).where(User.id == row["id"])
    return row


def _now() -> datetime:
    return datetime.now(UTC)


def validate_user_fields(data: dict[str, str], creating: bool) -> dict[str, object]:
    errors: dict[str, str] = {}
    clean: dict[str, object] = {}
    if creating:
        username = data.get("username", "").strip()
        if not USERNAME_RE.match(username):
            errors["username"] = _("Use 2 to 64 letters, digits, dots, dashes or underscores.")
        clean["username"] = username
        password = data.get("password", "")
        problem = password_problem(password)
        if problem:
            errors["password"] = problem
        clean["password"] = password
    display_name = data.get("display_name", "").strip()
    if not display_name or len(display_name) > 100:
        errors["display_name"] = _("Enter a name of at most 100 characters.")
    clean["display_name"] = display_name
    role = data.get("role", "rep")
    if role not in ROLES:
        errors["role"] = _("Choose a role.")
    clean["role"] = role
    team = data.get("team", "").strip()
    clean["team"] = None
    if team:
        try:
            clean["team"] = UUID(team)
        except ValueError:
            errors["team"] = _("Choose a team.")
    locale = data.get("locale", "")
    clean["locale"] = locale if locale in LOCALES else ""
    erp_code = unicodedata.normalize("NFKC", data.get("erp_code", "")).strip()
    if len(erp_code) > 64:
        errors["erp_code"] = _("At most %(n)s characters.", n=64)
    clean["erp_code"] = erp_code
    rep_kind = data.get("rep_kind") or "field"
    if rep_kind not in REP_KINDS:
        errors["rep_kind"] = _("Choose one of the options.")
    clean["rep_kind"] = rep_kind
    if errors:
        raise FieldErrors(errors)
    return clean


async def _erp_code_free(code: object, user_id: UUID | None) -> None:
    """ERP imports match a rep by this code: two users may not share one."""
    if not code:
        return
    others = User.id != user_id if user_id is not None else User.id.is_not_null()
    if await User.exists().where((User.erp_code == code) & others):
        raise FieldErrors({"erp_code": _("Another user has this ERP code.")})


async def create_user(actor: Actor | None, data: dict[str, str], password_hash: str | None = None) -> UUID:
    """Create a user (admin only; `actor=None` is the command line)."""
    if actor is not None:
        require_role(actor, "admin")
    clean = validate_user_fields(data, creating=True)
    if clean["team"] and not await Team.exists().where(Team.id == clean["team"]):
        raise FieldErrors({"team": _("Choose a team.")})
    if await User.exists().where(User.username == clean["username"]):
        raise FieldErrors({"username": _("This username is taken.")})
    await _erp_code_free(clean["erp_code"], None)
    uid = uuid4()
    await User.insert(
        User(
            id=uid,
            username=clean["username"],
            display_name=clean["display_name"],
            password_hash=password_hash or hash_password(str(clean["password"])),
            role=clean["role"],
            team=clean["team"],
            locale=clean["locale"],
            erp_code=clean["erp_code"],
            rep_kind=clean["rep_kind"],
            active=True,
            created_at=_now(),
        )
    )
    if clean["team"]:
        await membership.start(uid, db.as_uuid(clean["team"]), actor.id if actor else None)
    return uid


async def update_user(actor: Actor, user_id: UUID, data: dict[str, str]) -> None:
    require_role(actor, "admin")
    clean = validate_user_fields(data, creating=False)
    if clean["team"] and not await Team.exists().where(Team.id == clean["team"]):
        raise FieldErrors({"team": _("Choose a team.")})
    await _erp_code_free(clean["erp_code"], user_id)
    active = data.get("active") in ("on", "true", "1")
    if user_id == actor.id and (not active or clean["role"] != "admin"):
        raise FieldErrors({"": _("You cannot deactivate yourself or remove your own admin role.")})
    was_active = await User.exists().where((User.id == user_id) & (User.active == True))  # noqa: E712 - Piccolo builds SQL from ==
    current = await User.select(User.team).where(User.id == user_id).first()
    if current is not None and current["team"] != clean["team"]:
        # A team changed on the user form is a move from today: what was earned before stays put.
        await membership.move(actor, user_id, db.as_uuid(clean["team"]), clock.today())
    changes: dict = {User.display_name: clean["display_name"], User.role: clean["role"], User.active: active,
                     User.erp_code: clean["erp_code"], User.rep_kind: clean["rep_kind"]}
    if was_active and not active:
        # Deactivation ends every session for good: reactivating the user later revives none of them.
        changes[User.session_epoch] = User.session_epoch + 1
    await User.update(changes).where(User.id == user_id)
    if not active:
        await sessions.revoke_all(user_id)
    if clean["role"] != "manager":
        await TeamManager.delete().where(TeamManager.manager == user_id)


async def set_password(actor: Actor, user_id: UUID, password: str, keep_session: str | None = None) -> None:
    """A new password ends the user's sessions everywhere (their epoch moves on), but `keep_session`:
    the session of a user changing their own password carries on."""
    if actor.id != user_id:
        require_role(actor, "admin")
    problem = password_problem(password)
    if problem:
        raise FieldErrors({"password": problem})
    await User.update(
        {User.password_hash: hash_password(password), User.session_epoch: User.session_epoch + 1}
    ).where(User.id == user_id)
    await sessions.revoke_all(user_id, keep=keep_session)
    if keep_session and actor.id == user_id:
        row = await User.select(User.session_epoch).where(User.id == user_id).first()
        if row:
            await sessions.renew_epoch(keep_session, row["session_epoch"])


async def set_locale(actor: Actor, locale: str) -> None:
    await User.update({User.locale: locale if locale in LOCALES else ""}).where(User.id == actor.id)


async def get_user(actor: Actor, user_id: UUID) -> dict | None:
    require_role(actor, "admin")
    return await User.select(
        User.id, User.username, User.display_name, User.role, User.team, User.active, User.locale, User.erp_code,
        User.rep_kind).where(User.id == user_id).first()


async def list_users(actor: Actor) -> list[dict]:
    require_role(actor, "admin")
    return await User.select(
        User.id, User.username, User.display_name, User.role, User.active, User.team.name.as_alias("team_name")
    ).order_by(User.role).order_by(User.username)


async def list_teams(actor: Actor) -> list[dict]:
    """Teams with their managers and member counts (admin)."""
    require_role(actor, "admin")
    teams = await Team.select(Team.id, Team.name, Team.parent, Team.parent.name.as_alias("parent_name")).order_by(
        Team.name)
    leads = await TeamManager.select(TeamManager.team, TeamManager.manager.display_name.as_alias("name"))
    counts = await User.raw("SELECT team, COUNT(*) AS n FROM app_user WHERE team IS NOT NULL GROUP BY team")
    by_team = {db.as_uuid(c["team"]): c["n"] for c in counts}
    tree = {t["id"]: t["parent"] for t in teams}
    for t in teams:
        t["managers"] = [lead["name"] for lead in leads if lead["team"] == t["id"]]
        t["members"] = by_team.get(t["id"], 0)
        t["depth"] = hierarchy.depth(tree, t["id"])
    # Tree order: each region followed by the teams below it.
    order = {tid: i for i, tid in enumerate(hierarchy.below(tree, [t["id"] for t in teams if t["parent"] is None]))}
    return sorted(teams, key=lambda t: order.get(t["id"], len(order)))


async def team_choices() -> list[dict]:
    return await Team.select(Team.id, Team.name).order_by(Team.name)


async def manager_choices() -> list[dict]:
    return await User.select(User.id, User.display_name).where(
        (User.role == "manager") & (User.active == True)  # noqa: E712 - Piccolo needs ==
    ).order_by(User.display_name)


async def create_team(actor: Actor | None, name: str, manager_ids: list[str], parent: object = None) -> UUID:
    if actor is not None:
        require_role(actor, "admin")
    name = name.strip()
    if not name or len(name) > 100:
        raise FieldErrors({"name": _("Enter a team name of at most 100 characters.")})
    if await Team.exists().where(Team.name == name):
        raise FieldErrors({"name": _("A team with this name exists.")})
    managers: list[UUID] = []
    for raw in manager_ids:
        if not raw:
            continue
        try:
            managers.append(UUID(raw))
        except ValueError:
            raise FieldErrors({"managers": _("Choose managers from the list.")}) from None
    if managers:
        found = await User.count().where(User.id.is_in(managers) & (User.role == "manager"))
        if found != len(set(managers)):
            raise FieldErrors({"managers": _("Choose managers from the list.")})
    parent_id = parse_parent(parent)
    await check_parent(None, parent_id)
    tid = uuid4()
    await Team.insert(Team(id=tid, name=name, created_at=_now(), parent=parent_id))
    for m in set(managers):
        await TeamManager.insert(TeamManager(id=uuid4(), team=tid, manager=m))
    return tid


def parse_parent(raw: object) -> UUID | None:
    """The parent of a team form (empty: the company); FieldErrors when it names no team."""
    text = str(raw or "").strip()
    if not text:
        return None
    parent = validation.optional_uuid(text)
    if parent is None:
        raise FieldErrors({"parent": _("Choose a team.")})
    return parent


async def check_parent(team_id: UUID | None, parent: UUID | None) -> None:
    """A parent must exist and may not be the team itself or a team below it (no loops)."""
    if parent is None:
        return
    tree = await hierarchy.parents()
    if parent not in tree:
        raise FieldErrors({"parent": _("Choose a team.")})
    if team_id is not None and parent in hierarchy.below(tree, [team_id]):
        raise FieldErrors({"parent": _("A team cannot sit under itself or a team below it.")})


async def update_team(actor: Actor, team_id: UUID, data: dict) -> None:
    """Rename a team and/or put it under another (admin). Its records, targets and members keep their
    ids, so a renamed team's history is the same history under its new name."""
    require_role(actor, "admin")
    if not await Team.exists().where(Team.id == team_id):
        raise NotFoundException()
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 100:
        raise FieldErrors({"name": _("Enter a team name of at most 100 characters.")})
    if await Team.exists().where((Team.name == name) & (Team.id != team_id)):
        raise FieldErrors({"name": _("A team with this name exists.")})
    parent = parse_parent(data.get("parent"))
    await check_parent(team_id, parent)
    await Team.update({Team.name: name, Team.parent: parent}).where(Team.id == team_id)
