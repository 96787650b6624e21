"""Typed settings, read from environment variables with safe defaults.

Every field documents its variable; `docs/configuration.md` lists them all and a test keeps the two in step.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def setting(env: str, help: str, default):  # noqa: A002 - "help" reads best here
    """A dataclass field that knows its environment variable and its documentation."""
    return field(default=default, metadata={"env": env, "help": help})


@dataclass(frozen=True)
class Settings:
    data_dir: Path = setting(
        "FIELDPACE_DATA_DIR",
        "Directory for the SQLite database and the secrets generated on first run (session key, CSRF secret).",
        ROOT / "data",
    )
    database_url: str = setting(
        "FIELDPACE_DATABASE_URL",
        "Database URL. Empty means a SQLite file `fieldpace.sqlite3` in the data directory; "
        "`postgresql://user@host:5432/name` uses PostgreSQL.",
        "",
    )
    host: str = setting("FIELDPACE_HOST", "Address `fieldpace serve` listens on.", "127.0.0.1")
    port: int = setting("FIELDPACE_PORT", "Port `fieldpace serve` listens on.", 8000)
    timezone: str = setting(
        "FIELDPACE_TIMEZONE",
        "The company's time zone (IANA name). Decides what 'today' is for visits and daily reports.",
        "Asia/Shanghai",
    )
    default_locale: str = setting(
        "FIELDPACE_DEFAULT_LOCALE",
        "Language when neither the user's setting nor the browser's Accept-Language matches: `en` or `zh_CN`.",
        "en",
    )
    currency: str = setting("FIELDPACE_CURRENCY", "ISO 4217 currency code used to format amounts.", "CNY")
    secure_cookies: bool = setting(
        "FIELDPACE_SECURE_COOKIES",
        "Mark session and CSRF cookies Secure. Turn on when the app is served over HTTPS.",
        False,
    )
    session_days: int = setting(
        "FIELDPACE_SESSION_DAYS", "How many days a sign-in lasts without signing in again.", 14
    )
    login_max_attempts: int = setting(
        "FIELDPACE_LOGIN_MAX_ATTEMPTS",
        "Failed sign-ins allowed per username and per client address within the window before refusing.",
        5,
    )
    login_window_seconds: int = setting(
        "FIELDPACE_LOGIN_WINDOW_SECONDS", "Length of the sign-in rate-limit window, in seconds.", 300
    )
    checkin_radius_m: int = setting(
        "FIELDPACE_CHECKIN_RADIUS_M",
        "A check-in farther than this many metres from the customer's location is flagged to the manager.",
        500,
    )
    debug: bool = setting("FIELDPACE_DEBUG", "Show tracebacks in responses. Never in production.", False)

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """Build settings from the environment; keyword overrides win (tests use them)."""
        values = {}
        for f in fields(cls):
            if f.name in overrides:
                values[f.name] = overrides[f.name]
                continue
            raw = os.environ.get(f.metadata["env"])
            if raw is None:
                continue
            if f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("bool", bool):
                values[f.name] = _bool(raw)
            elif f.type in ("Path", Path):
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
        return cls(**values)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir).resolve() / 'fieldpace.sqlite3'}"

    def secrets(self) -> dict[str, str]:
        """Secrets generated on first run into the data directory, never committed."""
        return load_or_create_secrets(Path(self.data_dir))


def load_or_create_secrets(data_dir: Path) -> dict[str, str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secrets.json"
    current: dict[str, str] = {}
    if path.exists():
        current = json.loads(path.read_text())
    wanted = {
        "session_key": lambda: secrets.token_hex(32),
        "csrf_secret": lambda: secrets.token_urlsafe(32),
    }
    missing = {k: make() for k, make in wanted.items() if k not in current}
    if missing:
        current.update(missing)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(current, fh, indent=2)
        os.replace(tmp, path)
    return current
