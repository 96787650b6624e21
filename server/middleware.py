"""ASGI middleware: the request's language and time zone, and strict security headers."""

from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.i18n import pick_locale, set_locale, set_timezone

# No inline script anywhere: scripts and styles come from our own origin only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
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


def locale_and_headers(default_locale: str, timezone: str, hsts: bool):
    """Middleware factory: set the locale context for the request, add security headers to replies."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def handler(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            session = scope.get("session") or {}
            accept = ""
            for name, value in scope.get("headers", []):
                if name == b"accept-language":
                    accept = value.decode("latin-1")
                    break
            locale = pick_locale(session.get("locale") if isinstance(session, dict) else None, accept, default_locale)
            set_locale(locale)
            set_timezone(timezone)

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    present = {k.lower() for k, _v in headers}
                    for key, value in SECURITY_HEADERS:
                        if key not in present:
                            headers.append((key, value))
                    if hsts:
                        headers.append((b"strict-transport-security", b"max-age=31536000"))
                    headers.append((b"content-language", locale.replace("_", "-").encode()))
                    message["headers"] = headers
                await send(message)

            await app(scope, receive, send_with_headers)

        return handler

    return middleware
