"""ASGI middleware: the request's language and time zone, strict security and cache headers on every
answer (unmatched routes too), and CSRF tokens bound to the session."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from secrets import compare_digest
from typing import Any

from litestar.config.csrf import CSRFConfig
from litestar.datastructures import MutableScopeHeaders
from litestar.datastructures.cookie import Cookie
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware._utils import build_exclude_path_pattern, should_bypass_middleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from server import assets
from server.i18n import pick_locale, set_locale, set_timezone

# No inline script anywhere: scripts and styles come from our own origin only, but for the one stylesheet the
# signed-out pages carry inline, named by its hash (server/assets.py).
CSP = (
    f"default-src 'self'; script-src 'self'; style-src 'self' {assets.inline_style_hash()}; img-src 'self' data:; "
    "connect-src 'self'; "
    "manifest-src 'self'; worker-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"geolocation=(self), camera=(), microphone=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# An answer that does not say how it may be cached is private: pages, fragments, JSON, CSV, errors.
# Public files say so themselves (static files, icons, the manifest, the service worker).
PRIVATE_CACHE = b"no-store"


def request_locale(scope: Scope, default_locale: str) -> str:
    """The language for this request: the user's setting (kept in the session), else Accept-Language."""
    session = scope.get("session") or {}
    accept = ""
    for name, value in scope.get("headers", []):
        if name == b"accept-language":
            accept = value.decode("latin-1")
            break
    return pick_locale(session.get("locale") if isinstance(session, dict) else None, accept, default_locale)


PREFETCH_HEADER = b"x-fieldpace-prefetch"


def is_prefetch(scope: Scope) -> bool:
    """A page the service worker fetches into its offline cache (web/sw.js `cachePages`), not one the
    person opened."""
    return any(name == PREFETCH_HEADER for name, _value in scope.get("headers", ()))


def prefetch_keeps_cookies(app: ASGIApp) -> ASGIApp:
    """Outermost: the answers to the service worker's prefetches set no cookie. A prefetch that started
    before a form post and ends after it would otherwise write the older session cookie back over the
    post's (and lose its flash message)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not is_prefetch(scope):
            await app(scope, receive, send)
            return

        async def send_without_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"set-cookie"]
            await send(message)

        await app(scope, receive, send_without_cookies)

    return middleware


def locale_and_timezone(default_locale: str, timezone: str):
    """Middleware factory: set the locale and time zone context for the request."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def handler(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                set_locale(request_locale(scope, default_locale))
                set_timezone(timezone)
            await app(scope, receive, send)

        return handler

    return middleware


def security_headers(hsts: bool):
    """A `before_send` hook: security headers, Content-Language and a private Cache-Control on every
    answer, including the router's own 404 and 405, which no route middleware sees."""
    from server.i18n import current_locale

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = list(message.get("headers", []))
        present = {k.lower() for k, _v in headers}
        for key, value in SECURITY_HEADERS:
            if key not in present:
                headers.append((key, value))
        if b"cache-control" not in present:
            headers.append((b"cache-control", PRIVATE_CACHE))
        if hsts and b"strict-transport-security" not in present:
            headers.append((b"strict-transport-security", b"max-age=31536000"))
        actor = (scope.get("state") or {}).get("actor")
        if actor is not None:
            # Whose answer this is: the service worker keeps each user's pages apart (web/sw.js).
            headers.append((b"x-fieldpace-user", str(actor.id).encode()))
        if b"content-language" not in present:
            headers.append((b"content-language", current_locale().replace("_", "-").encode()))
        message["headers"] = headers

    return before_send


# --- CSRF bound to the session ---------------------------------------------------------------------

ANONYMOUS = "anonymous"


def session_binding(scope: Scope) -> str:
    """What a CSRF token is bound to: the server-side session the cookie names, or "anonymous"."""
    session = scope.get("session")
    token = session.get("sid") if isinstance(session, dict) else None
    return f"s:{hashlib.sha256(token.encode()).hexdigest()}" if isinstance(token, str) and token else ANONYMOUS


class SessionBoundCSRFMiddleware:
    """Double-submit CSRF (cookie + header or form field), as Litestar's CSRFMiddleware, with the token's
    HMAC taken over the session it was issued to: a token copied from another user's browser, or from
    before this browser signed in, is refused. A new token cookie is sent whenever the session changes.

    The cookie lives as long as the session cookie (`max_age`), not for the browser session: after a
    browser restart the phone's first sync (from a page the service worker served) still has its token."""

    def __init__(self, app: ASGIApp, config: CSRFConfig, max_age: int | None = None) -> None:
        self.app = app
        self.config = config
        self.max_age = max_age
        self.exclude = build_exclude_path_pattern(exclude=config.exclude, middleware_cls=type(self))

    def _sign(self, nonce: str, binding: str) -> str:
        return hmac.new(self.config.secret.encode(), f"{nonce}|{binding}".encode(), hashlib.sha256).hexdigest()

    def new_token(self, binding: str) -> str:
        nonce = secrets.token_hex(32)
        return nonce + self._sign(nonce, binding)

    def valid(self, token: str | None, binding: str) -> bool:
        if not token or len(token) != 128:
            return False
        return compare_digest(token[64:], self._sign(token[:64], binding))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or should_bypass_middleware(
            scope=scope, scopes={ScopeType.HTTP}, exclude_opt_key=self.config.exclude_from_csrf_key,
            exclude_path_pattern=self.exclude,
        ):
            await self.app(scope, receive, send)
            return
        request: Any = scope["litestar_app"].request_class(scope=scope, receive=receive)
        binding = session_binding(scope)
        cookie = request.cookies.get(self.config.cookie_name)
        cookie_ok = self.valid(cookie, binding)
        state = ScopeState.from_scope(scope)
        if request.method in self.config.safe_methods:
            token = cookie if cookie_ok else self.new_token(binding)
            state.csrf_token = token
            await self.app(scope, receive, self._send_cookie(send, scope, binding, None if cookie_ok else token))
            return
        submitted = request.headers.get(self.config.header_name)
        content_type, _ = request.content_type
        if not submitted and content_type in {RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART}:
            form = await request.form()
            field = form.get("_csrf_token", None)
            submitted = field if isinstance(field, str) else None
        if not (cookie_ok and submitted and compare_digest(submitted.encode(), str(cookie).encode())):
            raise PermissionDeniedException("CSRF token verification failed")
        state.csrf_token = submitted
        await self.app(scope, receive, self._send_cookie(send, scope, binding, None))

    def _send_cookie(self, send: Send, scope: Scope, binding: str, token: str | None) -> Send:
        """Set the token cookie when it is new, or when the handler signed in or out (a new binding)."""

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                now = session_binding(scope)
                value = self.new_token(now) if now != binding else token
                if value:
                    headers = MutableScopeHeaders.from_message(message)
                    cookie = Cookie(
                        key=self.config.cookie_name, value=value, path=self.config.cookie_path,
                        secure=self.config.cookie_secure, httponly=self.config.cookie_httponly,
                        samesite=self.config.cookie_samesite, domain=self.config.cookie_domain,
                        max_age=self.max_age,
                    )
                    headers.add("set-cookie", cookie.to_header(header=""))
            await send(message)

        return wrapped
