"""The inbox, the notifications screen (settings, devices, test), push subscriptions, the admin's alert rules."""

from __future__ import annotations

from uuid import UUID

from litestar import Request, Router, get, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from server.accounts.permissions import Actor, require_role, session_actor
from server.i18n import _
from server.notifications import messages, services
from server.notifications.push import vapid_for
from server.notifications.tables import RULES
from server.web import FieldErrors, flash, form_data, page, redirect, session_of

COMMON_TIMEZONES = ("Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo",
                    "Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles", "UTC")


NO_NAVIGATION = {"/sw.js", "/healthz", "/manifest.webmanifest", "/favicon.ico"}


async def load_unread(request: Request) -> None:
    """Before every page: the signed-in user's unread count for the navigation (one indexed COUNT)."""
    path = request.url.path
    if request.method not in ("GET", "HEAD") or path.startswith(("/static/", "/icons/", "/api/")) or path in NO_NAVIGATION:
        return
    state = request.scope.setdefault("state", {})
    actor = state.get("actor") or await session_actor(session_of(request))
    if actor is None:
        return
    state["actor"] = actor  # provide_actor takes it from here: one session lookup per request
    state["unread"] = await services.unread_count(actor.id)


@get("/inbox")
async def inbox(actor: Actor) -> object:
    return page("notifications/inbox.html", items=await services.inbox(actor))


@get("/inbox/{notification_id:uuid}/open")
async def inbox_open(actor: Actor, notification_id: UUID) -> object:
    """Mark read, then go to the page the notification is about (a notification click lands here)."""
    try:
        url = await services.open_item(actor, notification_id)
    except LookupError:
        raise NotFoundException() from None
    return Redirect(path=url, status_code=303)


@post("/inbox/read-all")
async def inbox_read_all(request: Request, actor: Actor) -> object:
    count = await services.mark_all_read(actor)
    flash(request, _("Marked %(n)s as read.", n=count))
    return redirect("/inbox", request)


def _settings_page(actor: Actor, settings, values: dict, devices: list, errors: dict, status_code: int = 200) -> object:
    return page("notifications/settings.html", status_code=status_code, values=values, devices=devices, errors=errors,
                rules=[(code, _(messages.RULE_LABELS[code])) for code in RULES],
                timezones=COMMON_TIMEZONES, vapid_key=vapid_for(settings).public_key)


@get("/notifications")
async def notifications_page(actor: Actor, state: State) -> object:
    values = await services.settings_of(actor)
    return _settings_page(actor, state.settings, values, await services.devices(actor), {})


@post("/notifications/settings")
async def notifications_save(request: Request, actor: Actor, state: State) -> object:
    data = await form_data(request)
    try:
        await services.save_settings(actor, data)
    except FieldErrors as e:
        values = {**data, "push_off": [c for c in RULES if not data.get(f"push_{c}")]}
        return _settings_page(actor, state.settings, values, await services.devices(actor), e.errors, 422)
    flash(request, _("Notification settings saved."))
    return redirect("/notifications", request)


@post("/notifications/test")
async def notifications_test(request: Request, actor: Actor) -> object:
    await services.send_test(actor)
    flash(request, _("A test notification is on its way to your devices."))
    return redirect("/notifications", request)


@post("/notifications/devices/{subscription_id:uuid}/delete")
async def notifications_device_delete(request: Request, actor: Actor, subscription_id: UUID) -> object:
    try:
        await services.unsubscribe(actor, subscription_id)
    except LookupError:
        raise NotFoundException() from None
    flash(request, _("Notifications are off for that device."))
    return redirect("/notifications", request)


@post("/api/v1/push/subscriptions", status_code=200)
async def api_subscribe(request: Request, actor: Actor, state: State, data: dict) -> dict:
    sid = await services.subscribe(actor, data, allow_http=state.settings.push_allow_http,
                                   user_agent=request.headers.get("user-agent", ""))
    return {"id": str(sid)}


@post("/api/v1/push/unsubscribe", status_code=200)
async def api_unsubscribe(actor: Actor, data: dict) -> dict:
    endpoint = data.get("endpoint") if isinstance(data, dict) else None
    if not isinstance(endpoint, str) or not endpoint:
        raise FieldErrors({"endpoint": _("This is not a push service address.")})
    await services.unsubscribe_endpoint(actor, endpoint)
    return {"result": "removed"}


@get("/admin/alerts")
async def admin_alerts(actor: Actor) -> object:
    require_role(actor, "admin")
    return page("notifications/admin_alerts.html", rules=await services.rules_for_admin(actor),
                labels={c: _(messages.RULE_LABELS[c]) for c in RULES}, errors={}, failed="")


@post("/admin/alerts/{code:str}")
async def admin_alert_save(request: Request, actor: Actor, code: str) -> object:
    require_role(actor, "admin")
    data = await form_data(request)
    try:
        await services.save_rule(actor, code, data)
    except LookupError:
        raise NotFoundException() from None
    except FieldErrors as e:
        return page("notifications/admin_alerts.html", status_code=422, rules=await services.rules_for_admin(actor),
                    labels={c: _(messages.RULE_LABELS[c]) for c in RULES}, errors=e.errors, failed=code)
    flash(request, _("Alert rule saved."))
    return redirect("/admin/alerts", request)


router = Router(path="/", route_handlers=[
    inbox, inbox_open, inbox_read_all, notifications_page, notifications_save, notifications_test,
    notifications_device_delete, api_subscribe, api_unsubscribe, admin_alerts, admin_alert_save,
])
