"""Sign-in, sign-out, personal settings and the admin area for users and teams."""

from __future__ import annotations

from urllib.parse import quote
from uuid import UUID

from litestar import Request, Router, get, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException

from server import clock
from server.accounts import membership, services, sessions
from server.accounts.permissions import Actor, require_role, session_actor
from server.accounts.tables import ROLES
from server.i18n import LOCALE_NAMES, LOCALES, _, fmt_date
from server.web import FieldErrors, flash, form_data, page, redirect, session_of


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect to another origin after sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@get("/login", name="login")
async def login_page(request: Request, next: str | None = None, again: str = "") -> object:
    if await session_actor(session_of(request)):
        return redirect(_safe_next(next))
    if sessions.token_of(session_of(request)) and not again:
        # A signed-out, expired or deactivated user's leftover cookie: cleared, and the page asked for
        # once more, so its form carries a CSRF token of the session it is posted from (anonymous), not of
        # the one that just ended (that form would be refused as expired). `again`: never a loop.
        request.clear_session()
        return redirect("/login?again=1" + (f"&next={quote(_safe_next(next), safe='/')}" if next else ""))
    if session_of(request):
        request.clear_session()
    return page("accounts/login.html", next=_safe_next(next), values={}, errors={})


@post("/login")
async def login_submit(request: Request, state: State) -> object:
    data = await form_data(request)
    username = data.get("username", "").strip()
    target = _safe_next(data.get("next"))
    settings = state.settings
    client = services.client_address(
        request.client.host if request.client else None, request.headers.get("x-forwarded-for"),
        settings.trusted_proxy_list,
    )
    throttle: services.LoginThrottle = state.login_throttle
    values = {"username": username}
    if await throttle.blocked(username, client):
        return page(
            "accounts/login.html", status_code=429, next=target, values=values,
            errors={"": _("Too many failed sign-ins. Wait a few minutes and try again.")},
        )
    row = await services.authenticate(username, data.get("password", "")) if username else None
    if row is None:
        await throttle.failed(username, client)
        return page(
            "accounts/login.html", status_code=400, next=target, values=values,
            errors={"": _("Wrong username or password.")},
        )
    await throttle.succeeded(username)
    # A new session replaces whatever the cookie held before (no fixation); the old one, if any, ends.
    await sessions.revoke(sessions.token_of(session_of(request)))
    token = await sessions.start(row["id"], row["session_epoch"], settings.session_days)
    request.set_session({sessions.SESSION_KEY: token, "locale": row["locale"] or ""})
    return redirect(target)


@post("/logout")
async def logout(request: Request) -> object:
    await sessions.revoke(sessions.token_of(session_of(request)))
    request.clear_session()
    return redirect("/login")


@get("/settings")
async def settings_page(actor: Actor) -> object:
    return page("accounts/settings.html", actor=actor, locales=LOCALE_NAMES, errors={})


@post("/settings/language")
async def settings_language(request: Request, actor: Actor) -> object:
    data = await form_data(request)
    locale = data.get("locale", "")
    await services.set_locale(actor, locale)
    session = dict(session_of(request))
    session["locale"] = locale if locale in LOCALES else ""
    request.set_session(session)
    return redirect("/settings", request)


@post("/settings/password")
async def settings_password(request: Request, actor: Actor) -> object:
    data = await form_data(request)
    row = await services.authenticate(actor.username, data.get("current_password", ""))
    try:
        if row is None:
            raise FieldErrors({"current_password": _("Your current password is not right.")})
        if data.get("password", "") != data.get("password_again", ""):
            raise FieldErrors({"password_again": _("The two passwords differ.")})
        # Other sessions of this user end; this one carries on with the new epoch.
        await services.set_password(actor, actor.id, data.get("password", ""),
                                    keep_session=sessions.token_of(session_of(request)))
    except FieldErrors as e:
        return page("accounts/settings.html", status_code=422, actor=actor, locales=LOCALE_NAMES, errors=e.errors)
    flash(request, _("Password changed. You were signed out on your other devices."))
    return redirect("/settings")


# --- Admin: users and teams -------------------------------------------------------------------


async def _users_context(actor: Actor) -> dict:
    return {
        "users": await services.list_users(actor),
        "teams": await services.team_choices(),
        "roles": ROLES,
        "locales": LOCALE_NAMES,
    }


@get("/admin/users")
async def admin_users(actor: Actor) -> object:
    require_role(actor, "admin")
    return page("accounts/admin_users.html", actor=actor, values={"role": "rep"}, errors={}, **await _users_context(actor))


@post("/admin/users")
async def admin_users_create(request: Request, actor: Actor) -> object:
    require_role(actor, "admin")
    data = await form_data(request)
    try:
        await services.create_user(actor, data)
    except FieldErrors as e:
        values = {k: v for k, v in data.items() if k != "password"}
        return page(
            "accounts/admin_users.html", status_code=422, actor=actor, values=values, errors=e.errors,
            **await _users_context(actor),
        )
    flash(request, _("User %(name)s created.", name=data.get("username", "")))
    return redirect("/admin/users")


def _uuid_or_404(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise NotFoundException() from None


async def _user_or_404(actor: Actor, user_id: str) -> dict:
    user = await services.get_user(actor, _uuid_or_404(user_id))
    if not user:
        raise NotFoundException()
    return user


async def _user_page(actor: Actor, user: dict, *, status_code: int = 200, values: dict | None = None,
                     errors: dict | None = None, move: dict | None = None, move_errors: dict | None = None) -> object:
    return page(
        "accounts/admin_user.html", status_code=status_code, actor=actor, user=user,
        values=user if values is None else values, errors=errors or {}, teams=await services.team_choices(),
        roles=ROLES, memberships=await membership.history(actor, user["id"]),
        move=move or {"team": str(user["team"] or ""), "effective": clock.today().isoformat()},
        move_errors=move_errors or {},
    )


@get("/admin/users/{user_id:str}")
async def admin_user_edit(actor: Actor, user_id: str) -> object:
    require_role(actor, "admin")
    return await _user_page(actor, await _user_or_404(actor, user_id))


@post("/admin/users/{user_id:str}/team")
async def admin_user_move(request: Request, actor: Actor, user_id: str) -> object:
    """Move a user to another team from a date: what they did before it stays with the old team."""
    require_role(actor, "admin")
    user = await _user_or_404(actor, user_id)
    uid = user["id"]
    data = await form_data(request)
    try:
        team_id, effective = membership.parse_move(data)
        await membership.move(actor, uid, team_id, effective)
    except FieldErrors as e:
        return await _user_page(actor, user, status_code=422, move=data, move_errors=e.errors)
    flash(request, _("Team changed from %(date)s.", date=fmt_date(effective)))
    return redirect(f"/admin/users/{uid}")


@post("/admin/users/{user_id:str}")
async def admin_user_update(request: Request, actor: Actor, user_id: str) -> object:
    require_role(actor, "admin")
    user = await _user_or_404(actor, user_id)
    uid = user["id"]
    data = await form_data(request)
    try:
        await services.update_user(actor, uid, data)
    except FieldErrors as e:
        return await _user_page(actor, user, status_code=422, values={**user, **data, "active": data.get("active") == "on"},
                                errors=e.errors)
    flash(request, _("Saved."))
    return redirect(f"/admin/users/{uid}")


@post("/admin/users/{user_id:str}/password")
async def admin_user_password(request: Request, actor: Actor, user_id: str) -> object:
    require_role(actor, "admin")
    user = await _user_or_404(actor, user_id)
    uid = user["id"]
    data = await form_data(request)
    try:
        await services.set_password(actor, uid, data.get("password", ""))
    except FieldErrors as e:
        return await _user_page(actor, user, status_code=422, errors=e.errors)
    flash(request, _("Password reset."))
    return redirect(f"/admin/users/{uid}")


@get("/admin/teams")
async def admin_teams(actor: Actor) -> object:
    require_role(actor, "admin")
    return page(
        "accounts/admin_teams.html", actor=actor, teams=await services.list_teams(actor),
        managers=await services.manager_choices(), values={}, errors={},
    )


@post("/admin/teams")
async def admin_teams_create(request: Request, actor: Actor) -> object:
    require_role(actor, "admin")
    form = await request.form()
    data = await form_data(request)
    try:
        await services.create_team(actor, data.get("name", ""), list(form.getall("managers", [])), data.get("parent"))
    except FieldErrors as e:
        return page(
            "accounts/admin_teams.html", status_code=422, actor=actor, teams=await services.list_teams(actor),
            managers=await services.manager_choices(), values=data, errors=e.errors,
        )
    flash(request, _("Team %(name)s created.", name=data.get("name", "")))
    return redirect("/admin/teams")


@post("/admin/teams/{team_id:str}")
async def admin_team_update(request: Request, actor: Actor, team_id: str) -> object:
    """Rename a team or put it under another (a region); its history keeps its id."""
    require_role(actor, "admin")
    tid = _uuid_or_404(team_id)
    data = await form_data(request)
    try:
        await services.update_team(actor, tid, data)
    except FieldErrors as e:
        return page(
            "accounts/admin_teams.html", status_code=422, actor=actor, teams=await services.list_teams(actor),
            managers=await services.manager_choices(), values={}, errors={}, edit_id=str(tid), edit_values=data,
            edit_errors=e.errors,
        )
    flash(request, _("Team %(name)s saved.", name=data.get("name", "")))
    return redirect("/admin/teams")


router = Router(
    path="/",
    route_handlers=[
        login_page, login_submit, logout, settings_page, settings_language, settings_password,
        admin_users, admin_users_create, admin_user_edit, admin_user_update, admin_user_password, admin_user_move,
        admin_teams, admin_teams_create, admin_team_update,
    ],
)
