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


def parse_day_list(text: str, name: str, high: int = 60) -> tuple[int, ...]:
    """"3,1,0" -> (3, 1, 0): distinct whole numbers from 0 to `high`, largest first; "" -> (). A
    ValueError names the variable and says what is wrong."""
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    if any(not p.isdigit() for p in parts):
        raise ValueError(f"{name} must be whole numbers of days separated by commas, e.g. 3,1 (got {text!r})")
    days = [int(p) for p in parts]
    if any(d > high for d in days):
        raise ValueError(f"{name}: a reminder is at most {high} days before the due date (got {text!r})")
    if len(set(days)) != len(days):
        raise ValueError(f"{name} names a day twice (got {text!r})")
    return tuple(sorted(days, reverse=True))


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
        "Failed sign-ins allowed per username and per client address within the window before refusing "
        "(counted in the database, so across every server process).",
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
    photo_dir: str = setting(
        "FIELDPACE_PHOTO_DIR",
        "Directory for visit photos. Empty (the default) means `photos` in the data directory.",
        "",
    )
    photo_max_bytes: int = setting(
        "FIELDPACE_PHOTO_MAX_BYTES",
        "Largest visit photo accepted, in bytes (phones shrink photos to 1600 px first, a few hundred KB). "
        "At most 8 MB: an upload's whole body is limited to 16 MB.",
        3 * 1024 * 1024,
    )
    photo_max_per_visit: int = setting(
        "FIELDPACE_PHOTO_MAX_PER_VISIT", "How many photos one visit may carry.", 10
    )
    photo_orphan_days: int = setting(
        "FIELDPACE_PHOTO_ORPHAN_DAYS",
        "A photo whose visit never reached the server (refused, or discarded on the phone) is deleted, with its "
        "files, this many days after its upload, by the nightly photos.cleanup job.",
        30,
    )
    page_timeout_ms: int = setting(
        "FIELDPACE_PAGE_TIMEOUT_MS",
        "How long the service worker waits for the network before it shows a page the phone has already "
        "(and marks it updated when the network's answer arrives), in milliseconds.",
        400,
    )
    trusted_proxies: str = setting(
        "FIELDPACE_TRUSTED_PROXIES",
        "Comma-separated addresses or networks (CIDR) of reverse proxies whose `X-Forwarded-For` is believed, "
        "for the sign-in limit's client address. Empty (the default) trusts none: the peer address counts.",
        "",
    )
    debug: bool = setting("FIELDPACE_DEBUG", "Show tracebacks in responses. Never in production.", False)
    scheduler: bool = setting(
        "FIELDPACE_SCHEDULER",
        "Run the job scheduler and the push delivery queue inside `fieldpace serve`. Turn off when a separate "
        "`fieldpace worker` process does it.",
        True,
    )
    scheduler_tick_seconds: float = setting(
        "FIELDPACE_SCHEDULER_TICK_SECONDS", "How often the scheduler looks for a due job slot, in seconds.", 5.0
    )
    heartbeat_seconds: int = setting(
        "FIELDPACE_HEARTBEAT_SECONDS",
        "Run the no-op `jobs.heartbeat` job every N seconds (0: not registered); shows the scheduler is alive.",
        0,
    )
    job_history_days: int = setting(
        "FIELDPACE_JOB_HISTORY_DAYS", "Days of job run records kept before the cleanup job deletes them.", 30
    )
    vapid_subject: str = setting(
        "FIELDPACE_VAPID_SUBJECT",
        "Contact sent to push services with every Web Push (the VAPID `sub` claim): a `mailto:` or `https:` URL.",
        "mailto:admin@fieldpace.invalid",
    )
    push_allow_http: bool = setting(
        "FIELDPACE_PUSH_ALLOW_HTTP",
        "Accept plain-HTTP push endpoints on 127.0.0.1 or localhost (a local test receiver). Never in production.",
        False,
    )
    push_poll_seconds: float = setting(
        "FIELDPACE_PUSH_POLL_SECONDS", "How often the delivery queue looks for pushes to send, in seconds.", 2.0
    )
    push_max_attempts: int = setting(
        "FIELDPACE_PUSH_MAX_ATTEMPTS", "Attempts at one push (5xx, timeouts, 429) before it counts as failed.", 6
    )
    push_retry_seconds: float = setting(
        "FIELDPACE_PUSH_RETRY_SECONDS",
        "First wait before retrying a failed push, in seconds; doubled each attempt, with jitter.",
        30.0,
    )
    push_timeout_seconds: float = setting(
        "FIELDPACE_PUSH_TIMEOUT_SECONDS", "How long to wait for a push service's answer, in seconds.", 10.0
    )
    push_concurrency: int = setting(
        "FIELDPACE_PUSH_CONCURRENCY", "Pushes sent at the same time by one delivery process.", 16
    )
    notification_retention_days: int = setting(
        "FIELDPACE_NOTIFICATION_RETENTION_DAYS",
        "Days a read notification (and its delivered pushes) is kept before the cleanup job deletes it.",
        90,
    )
    evaluation_peer_min: int = setting(
        "FIELDPACE_EVALUATION_PEER_MIN",
        "Peer ratings count (and show, as an average only) when at least this many peers answered.",
        3,
    )
    evaluation_reps_see_ranking: bool = setting(
        "FIELDPACE_EVALUATION_REPS_SEE_RANKING",
        "Whether reps see their rank within the team on their scorecard (managers always see the ranking).",
        False,
    )
    evaluation_reminder_days: str = setting(
        "FIELDPACE_EVAL_REMINDER_DAYS",
        "Days before a cycle's rating due date on which raters with a form not submitted get a reminder, "
        "comma-separated whole numbers from 0 (the due date itself) to 60, e.g. `3,1`; empty sends none.",
        "3,1,0",
    )

    def __post_init__(self) -> None:
        # Checked at start-up (every command builds its settings first): a typo stops the process with
        # the variable's name rather than silently sending no reminder.
        parse_day_list(self.evaluation_reminder_days, "FIELDPACE_EVAL_REMINDER_DAYS")

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
            elif f.type in ("float", float):
                values[f.name] = float(raw)
            elif f.type in ("bool", bool):
                values[f.name] = _bool(raw)
            elif f.type in ("Path", Path):
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
        return cls(**values)

    @property
    def reminder_days(self) -> tuple[int, ...]:
        """`evaluation_reminder_days` as days before the due date, largest first."""
        return parse_day_list(self.evaluation_reminder_days, "FIELDPACE_EVAL_REMINDER_DAYS")

    @property
    def trusted_proxy_list(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.trusted_proxies.split(",") if p.strip())

    @property
    def effective_photo_dir(self) -> Path:
        return Path(self.photo_dir) if self.photo_dir else Path(self.data_dir) / "photos"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir).resolve() / 'fieldpace.sqlite3'}"

    def secrets(self) -> dict[str, str]:
        """Secrets generated on first run into the data directory, never committed."""
        return load_or_create_secrets(Path(self.data_dir))


def _new_vapid_key() -> str:
    import base64

    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def load_or_create_secrets(data_dir: Path) -> dict[str, str]:
    """Read the secrets, adding any that are missing. Under an exclusive lock on `secrets.lock`: processes
    started together on a fresh data directory (several uvicorn workers, a `fieldpace worker`) must all end
    up with the same keys, or pushes signed by one would not match the key browsers subscribed with."""
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secrets.json"
    with open(data_dir / "secrets.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current: dict[str, str] = {}
            if path.exists():
                current = json.loads(path.read_text())
            wanted = {
                "session_key": lambda: secrets.token_hex(32),
                "csrf_secret": lambda: secrets.token_urlsafe(32),
                # Web Push (VAPID, RFC 8292): the P-256 private key as base64url of its raw 32 bytes.
                "vapid_private_key": _new_vapid_key,
            }
            missing = {k: make() for k, make in wanted.items() if k not in current}
            if missing:
                current.update(missing)
                tmp = path.with_suffix(".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    json.dump(current, fh, indent=2)
                os.replace(tmp, path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return current
