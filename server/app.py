"""The one place the Litestar app is assembled: settings, database, sessions, CSRF, templates, routes."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

from jinja2 import pass_context
from litestar import Litestar, Request, Response
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import CacheControlHeader, State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.router import Router
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler, Message, Scope
from markupsafe import Markup

from server import assets, clock, db, geo, i18n, openapi
from server.accounts import routes as accounts_routes
from server.accounts.permissions import provide_actor
from server.accounts.services import LoginThrottle
from server.accounts.sessions import SessionCookieConfig
from server.customers import routes as customers_routes
from server.dashboards import routes as dashboards_routes
from server.evaluation import routes as evaluation_routes
from server.home import routes as home_routes
from server.imports import routes as imports_routes
from server.jobs import routes as jobs_routes
from server.middleware import (
    SessionBoundCSRFMiddleware,
    locale_and_timezone,
    prefetch_keeps_cookies,
    request_locale,
    security_headers,
)
from server.notifications import routes as notifications_routes
from server.reports import routes as reports_routes
from server.sales import routes as sales_routes
from server.settings import ROOT, Settings
from server.syncing import routes as syncing_routes
from server.system import routes as system_routes
from server.targets import routes as targets_routes
from server.visits import photos
from server.visits import routes as visits_routes
from server.web import (
    Conflict,
    FieldErrors,
    check_url_values,
    http_error_message,
    is_api,
    is_htmx,
    page,
    pop_flash,
    problem,
)

log = logging.getLogger("fieldpace")

DOMAINS = (
    "accounts", "customers", "visits", "reports", "home", "syncing", "system", "sales", "imports", "targets",
    "dashboards", "jobs", "notifications", "evaluation",
)
TEMPLATE_DIRS = [ROOT / "web" / "templates", *(ROOT / "server" / d / "templates" for d in DOMAINS)]


def _configure_jinja(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.add_extension("jinja2.ext.i18n")
    # The i18n extension adds install_gettext_callables to the environment at run time: no stub knows it.
    env.install_gettext_callables(i18n.translate, i18n.translate_plural, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        N_=i18n.N_, current_locale=i18n.current_locale, LOCALE_NAMES=i18n.LOCALE_NAMES,
        current_actor=_template_actor, flash_messages=_template_flash, company_today=clock.today,
        to_local_input=clock.to_local_input, static_url=assets.static_url,
        inline_style=lambda: Markup(assets.inline_style()),
    )
    env.filters.update(
        date=i18n.fmt_date, datetime=i18n.fmt_datetime, time=i18n.fmt_time, number=i18n.fmt_number,
        money=i18n.fmt_money, weekday=i18n.fmt_weekday, day_long=i18n.fmt_day_long,
        percent=i18n.fmt_percent,
    )
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True}


@pass_context
def _template_actor(context):
    request = context.get("request")
    return request.scope.get("state", {}).get("actor") if request is not None else None


@pass_context
def _template_flash(context):
    request = context.get("request")
    return pop_flash(request) if request is not None else []


def _error_response(request: Request, status: int, message: str, errors: dict | None = None) -> Response:
    if is_api(request):
        return problem(status, message, errors=errors)
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = f"/login?next={quote(target, safe='/')}" if request.method in ("GET", "HEAD") else "/login"
        if is_htmx(request):
            return Response("", status_code=401, headers={"HX-Redirect": login})
        return Response("", status_code=303, headers={"Location": login})
    return page("system/error.html", status_code=status, status=status, message=message)


def _http_exception(request: Request, exc: HTTPException) -> Response:
    if not request.scope.get("route_handler"):
        # The router's own 404/405: no route middleware ran, so pick the language here.
        i18n.set_locale(request_locale(request.scope, request.app.state.settings.default_locale))
    errors = None
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        errors = {str(e.get("key", "")): str(e.get("message", "")) for e in exc.extra if isinstance(e, dict)}
    return _error_response(request, exc.status_code, http_error_message(exc), errors)


def _field_errors(request: Request, exc: FieldErrors) -> Response:
    """Services raise FieldErrors; HTML handlers catch them to re-render, the API answers 422."""
    return _error_response(request, 422, i18n._("Some fields need attention."), exc.errors)


def _conflict(request: Request, exc: Conflict) -> Response:
    return _error_response(request, 409, exc.message)


def _too_deep(request: Request, exc: RecursionError) -> Response:
    """A JSON body nested deeper than the decoder can follow (msgspec raises RecursionError): bad input."""
    log.warning("Nesting too deep on %s %s", request.method, request.url.path)
    return _error_response(request, 400, i18n._("The request could not be understood. Check what you entered and try again."))


def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(request, 500, i18n._("Something went wrong. Please try again."))


def answer_head(value: ControllerRouterHandler) -> None:
    """Let every GET handler answer HEAD too (Litestar, unlike Starlette, routes HEAD only to handlers that
    name it): the GET handler runs, `strip_head_body` drops the body, so the headers are the GET's own.
    Paths that have a HEAD handler of their own (the static files) keep it."""
    if isinstance(value, HTTPRouteHandler):
        if "GET" in value.http_methods:
            value.http_methods.add("HEAD")
        return
    if isinstance(value, Router):
        for route in value.routes:
            if isinstance(route, HTTPRoute) and "GET" in route.methods and "HEAD" not in route.methods:
                for handler in route.route_handlers:
                    if "GET" in handler.http_methods:
                        handler.http_methods.add("HEAD")


class App(Litestar):
    """Litestar, with HEAD answered wherever GET is: every router is registered through `register`,
    the OpenAPI plugin's own too (it adds its router after the init plugins have run)."""

    def register(self, value: ControllerRouterHandler) -> None:  # type: ignore[override]  # Litestar's own
        answer_head(value)
        super().register(value)


async def strip_head_body(message: Message, scope: Scope) -> None:
    """A `before_send` hook: the answer to HEAD carries the GET's status and headers (Content-Length
    included) and no body."""
    if message["type"] == "http.response.body" and scope.get("method") == "HEAD":
        message["body"] = b""


async def before_request(request: Request) -> None:
    """Before every handler: the URL's values inside their ranges, then the navigation's unread count."""
    await check_url_values(request)
    await notifications_routes.load_unread(request)


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the app for `settings` (from the environment when omitted)."""
    settings = settings or Settings.from_env()
    secrets = settings.secrets()
    clock.configure(settings.timezone)
    i18n.configure(settings.currency)
    geo.configure(settings.checkin_radius_m)
    photos.configure(settings.effective_photo_dir, settings.photo_max_bytes, settings.photo_max_per_visit)
    engine = db.make_engine(settings.effective_database_url)
    db.bind(engine)
    assets.catalog()  # read and compress the static files now, not on the first request

    async def on_startup(app: Litestar) -> None:
        await db.prepare(engine)
        if settings.scheduler:  # the single-machine default: jobs and pushes run in the web process
            from server.jobs.runtime import Background

            app.state.background = Background(settings).start()

    async def on_shutdown(app: Litestar) -> None:
        background = getattr(app.state, "background", None)
        if background is not None:
            await background.stop()
        await db.close(engine)

    session_config = SessionCookieConfig(
        secret=bytes.fromhex(secrets["session_key"]),
        key="fieldpace_session",
        max_age=settings.session_days * 86400,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
        exclude=["^/static/", "^/icons/"],
    )
    csrf_config = CSRFConfig(
        secret=secrets["csrf_secret"],
        cookie_name="fieldpace_csrf",
        header_name="x-csrftoken",
        cookie_secure=settings.secure_cookies,
        cookie_samesite="strict",
        exclude=["^/static/", "^/icons/"],
    )
    icons = create_static_files_router(
        path="/icons", directories=[ROOT / "manifest" / "icons"], name="icons",
        cache_control=CacheControlHeader(max_age=86400), include_in_schema=False,
    )
    app = App(
        route_handlers=[
            system_routes.router, accounts_routes.router, home_routes.router, customers_routes.router,
            visits_routes.router, reports_routes.router, syncing_routes.router, sales_routes.router,
            imports_routes.router, targets_routes.router, dashboards_routes.router, jobs_routes.router,
            notifications_routes.router, evaluation_routes.router, icons,
        ],
        dependencies={"actor": Provide(provide_actor)},
        before_request=before_request,
        # Session first: the CSRF token is checked against the session the cookie names.
        middleware=[prefetch_keeps_cookies, session_config.middleware,
                    locale_and_timezone(settings.default_locale, settings.timezone),
                    DefineMiddleware(SessionBoundCSRFMiddleware, config=csrf_config,
                                     max_age=settings.session_days * 86400)],
        before_send=[security_headers(settings.secure_cookies), strip_head_body],
        # Pages and JSON: brotli where the client takes it, else gzip, per answer. Static files are
        # compressed once at start-up and served as they are (server/assets.py), so they are left out here.
        compression_config=CompressionConfig(backend="brotli", brotli_gzip_fallback=True, minimum_size=500,
                                             gzip_compress_level=6, exclude=["^/static/"]),
        template_config=TemplateConfig(
            directory=[Path(p) for p in TEMPLATE_DIRS], engine=JinjaTemplateEngine,
            engine_callback=_configure_jinja,
        ),
        exception_handlers={
            HTTPException: _http_exception,
            FieldErrors: _field_errors,
            Conflict: _conflict,
            RecursionError: _too_deep,
            HTTP_500_INTERNAL_SERVER_ERROR: _server_error,
        },
        state=State({"settings": settings, "engine": engine, "login_throttle": LoginThrottle(
            settings.login_max_attempts, settings.login_window_seconds)}),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        request_max_body_size=2 * 1024 * 1024,
        debug=settings.debug,
        openapi_config=openapi.config(),
    )
    openapi.limit_to_api(app)
    return app
