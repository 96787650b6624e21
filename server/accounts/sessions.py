"""Server-side sessions: the cookie names a row of `user_session`, which signing out, deactivation, a
password change and expiry end on the server.

The cookie stays Litestar's encrypted client-side cookie (it also carries the locale and flash messages),
but it only vouches for a random token; the token's SHA-256 is the row's key. A copied cookie is worth
nothing once its row is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig

from server.accounts.tables import UserSession

SESSION_KEY = "sid"
# last_seen_at is written at most this often, so most page views cost one read and no write.
TOUCH_EVERY = timedelta(minutes=5)
# Revoked and expired rows are kept this long (for "where am I signed in" later), then deleted.
KEEP_ENDED = timedelta(days=30)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_of(session: dict) -> str | None:
    """The session token a decoded cookie carries, if it carries a plausible one."""
    token = session.get(SESSION_KEY)
    return token if isinstance(token, str) and 20 <= len(token) <= 100 else None


def _now() -> datetime:
    return datetime.now(UTC)


async def start(user_id: UUID, epoch: int, days: int) -> str:
    """A new session for the user; returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    now = _now()
    await UserSession.delete().where(
        (UserSession.user == user_id) & (UserSession.expires_at < now - KEEP_ENDED)
    )
    await UserSession.insert(UserSession(
        id=digest(token), user=user_id, epoch=epoch, created_at=now, expires_at=now + timedelta(days=days),
        last_seen_at=now, revoked_at=None,
    ))
    return token


async def revoke(token: str | None) -> None:
    if token:
        await UserSession.update({UserSession.revoked_at: _now()}).where(
            (UserSession.id == digest(token)) & UserSession.revoked_at.is_null()
        )


async def revoke_all(user_id: UUID, keep: str | None = None) -> None:
    """End every session of the user (all but `keep`, the one making the change)."""
    where = (UserSession.user == user_id) & UserSession.revoked_at.is_null()
    if keep:
        where = where & (UserSession.id != digest(keep))
    await UserSession.update({UserSession.revoked_at: _now()}).where(where)


async def renew_epoch(token: str, epoch: int) -> None:
    """The session that changed the password carries on under the new epoch."""
    await UserSession.update({UserSession.epoch: epoch}).where(UserSession.id == digest(token))


async def live_session(token: str | None) -> dict | None:
    """The session row joined with its user, if the session is live: one lookup by primary key."""
    if not token:
        return None
    row = await UserSession.select(
        UserSession.epoch, UserSession.expires_at, UserSession.last_seen_at, UserSession.revoked_at,
        UserSession.user.id.as_alias("user_id"), UserSession.user.username.as_alias("username"),
        UserSession.user.display_name.as_alias("display_name"), UserSession.user.role.as_alias("role"),
        UserSession.user.team.as_alias("team"), UserSession.user.active.as_alias("active"),
        UserSession.user.locale.as_alias("locale"), UserSession.user.session_epoch.as_alias("session_epoch"),
    ).where(UserSession.id == digest(token)).first()
    now = _now()
    if row and row["revoked_at"] is None and row["user_id"] is not None and not row["active"]:
        # Deactivated behind the admin page's back (straight in the database): end the session for good,
        # so that reactivating the user does not bring it back.
        await revoke(token)
        return None
    if (
        not row or row["revoked_at"] is not None or row["user_id"] is None
        or _aware(row["expires_at"]) <= now or row["epoch"] != row["session_epoch"]
    ):
        return None
    if now - _aware(row["last_seen_at"]) > TOUCH_EVERY:
        await UserSession.update({UserSession.last_seen_at: now}).where(UserSession.id == digest(token))
    return row


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class TolerantCookieBackend(ClientSideSessionBackend):
    """Litestar's encrypted cookie backend, but a cookie it cannot read (tampered, truncated, from another
    key) is simply no session: a sign-in redirect, never a 500."""

    async def load_from_connection(self, connection: ASGIConnection) -> dict[str, Any]:
        try:
            data = await super().load_from_connection(connection)
        except Exception:  # noqa: BLE001 - anything a client can put in a cookie means "not signed in"
            return {}
        return data if isinstance(data, dict) else {}


class SessionCookieConfig(CookieBackendConfig):
    _backend_class = TolerantCookieBackend
