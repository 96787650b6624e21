"""The real server as a process, for tests and benchmarks: start, wait until ready, stop or kill, sign in.

`ServerProcess` runs uvicorn in a subprocess the way `fieldpace serve` does (one worker, log level warning,
proxy headers) on a free port of 127.0.0.1, with the environment it is given (`server_env` builds one from
a database URL, a data directory and settings), and waits until `/healthz` answers 200. `stop()` sends
SIGTERM and, after a grace period, SIGKILL; `kill()` is the SIGKILL a fault test wants. `sign_in` and
`sign_in_async` go through the real login form and return an httpx client holding the session cookie,
with the CSRF token in its `x-csrftoken` header (`csrf_token(client)` reads it back).

This module imports nothing of the app (only the standard library and httpx, which Litestar depends on):
`bench/` and `tests/` both use it, and the server it starts is a separate process.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SESSION_COOKIE = "fieldpace_session"
CSRF_COOKIE = "fieldpace_csrf"
CSRF_HEADER = "x-csrftoken"
_FORM_TOKEN = (re.compile(r'name="_csrf_token"\s+value="([^"]+)"'), re.compile(r'value="([^"]+)"\s+name="_csrf_token"'))


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url: str, data_dir: Path | str, *, inherit_settings: bool = False,
               **settings: str) -> dict[str, str]:
    """The environment of a server process: this one's, with the database URL, the data directory and each
    keyword as `FIELDPACE_<NAME>` (`timezone="Asia/Shanghai"` is FIELDPACE_TIMEZONE). Other FIELDPACE_*
    variables of the caller are dropped unless `inherit_settings` (FIELDPACE_DEBUG always is)."""
    env = {k: v for k, v in os.environ.items() if inherit_settings or not k.startswith("FIELDPACE_")}
    env.pop("FIELDPACE_DEBUG", None)
    env.update({
        "FIELDPACE_DATABASE_URL": database_url,
        "FIELDPACE_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
        **{f"FIELDPACE_{name.upper()}": str(value) for name, value in settings.items()},
    })
    return env


class ServerProcess:
    """One uvicorn process serving `app` ("module:attribute"; a factory when `factory`), its output appended
    to `log`. Use as a context manager, or call start() and stop()."""

    def __init__(self, env: Mapping[str, str], log: Path, app: str = "server.asgi:app", *, factory: bool = False,
                 ready_path: str = "/healthz", uvicorn_args: Iterable[str] = (), startup_timeout: float = 60.0):
        self.env = dict(env)
        self.log = Path(log)
        self.app = app
        self.factory = factory
        self.ready_path = ready_path
        self.uvicorn_args = list(uvicorn_args)
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the server was not started"
        return self.proc.pid

    def start(self) -> str:
        """Start the process and return its base URL once `ready_path` answers 200. A port taken between
        choosing it and uvicorn binding it (another test run on the machine) means a new port, twice at most."""
        assert self.proc is None or self.proc.poll() is not None, "the server is already running"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            self.port = free_port()
            command = [sys.executable, "-m", "uvicorn", *(["--factory"] if self.factory else []), self.app,
                       "--app-dir", str(ROOT), "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
                       "--log-level", "warning", "--proxy-headers", *self.uvicorn_args]
            log_start = self.log.stat().st_size if self.log.exists() else 0
            with self.log.open("ab") as out:
                self.proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
            try:
                self._wait_ready()
                return self.base_url
            except RuntimeError:
                self.stop()
                with self.log.open("rb") as fh:
                    fh.seek(log_start)
                    port_taken = b"address already in use" in fh.read().lower()
                if not port_taken or attempt == 2:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.app} exited with {self.proc.returncode} before it was ready:\n"
                                   f"{self.log_tail()}")
            try:
                ready = httpx.get(self.base_url + self.ready_path, timeout=2.0).status_code == 200
            except httpx.TransportError:
                ready = False
            # A uvicorn that cannot bind its port exits at once: while it has exited, a 200 is another server's.
            if ready and self.proc.poll() is None:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.app} was not ready within {self.startup_timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited after `grace` seconds; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def kill(self) -> int:
        """SIGKILL now, as a crash would: no shutdown hooks, nothing flushed. Returns the exit code."""
        assert self.proc is not None, "the server was not started"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=10)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# ------------------------------------------------------------------------------------------ sign-in


def _form_token(html: str) -> str:
    for pattern in _FORM_TOKEN:
        if m := pattern.search(html):
            return m.group(1)
    raise RuntimeError("the login page has no _csrf_token field")


def _signed_in(client: httpx.Client | httpx.AsyncClient, response: httpx.Response, username: str) -> None:
    if response.status_code not in (302, 303) or SESSION_COOKIE not in client.cookies:
        raise RuntimeError(f"sign-in as {username} failed: HTTP {response.status_code} {response.text[:300]}")
    token = client.cookies.get(CSRF_COOKIE)
    if not token:
        raise RuntimeError(f"sign-in as {username}: no {CSRF_COOKIE} cookie")
    client.headers[CSRF_HEADER] = token


def csrf_token(client: httpx.Client | httpx.AsyncClient) -> str:
    """The CSRF token a signed-in client sends on unsafe requests."""
    return client.headers[CSRF_HEADER]


def sign_in(base_url: str, username: str, password: str, **client_options: Any) -> httpx.Client:
    """Sign in through the login form (GET /login for the CSRF cookie and field, POST the form); the client
    keeps the session cookie and sends the CSRF header. `client_options` go to httpx.Client."""
    client = httpx.Client(base_url=base_url, **{"follow_redirects": False, "timeout": 60.0, **client_options})
    try:
        r = client.get("/login")
        r.raise_for_status()
        r = client.post("/login", data={"_csrf_token": _form_token(r.text), "username": username,
                                        "password": password})
        _signed_in(client, r, username)
    except BaseException:
        client.close()
        raise
    return client


async def sign_in_async(base_url: str, username: str, password: str, **client_options: Any) -> httpx.AsyncClient:
    """`sign_in` for asyncio: an httpx.AsyncClient signed in through the login form."""
    client = httpx.AsyncClient(base_url=base_url, **{"follow_redirects": False, "timeout": 60.0, **client_options})
    try:
        r = await client.get("/login")
        r.raise_for_status()
        r = await client.post("/login", data={"_csrf_token": _form_token(r.text), "username": username,
                                              "password": password})
        _signed_in(client, r, username)
    except BaseException:
        await client.aclose()
        raise
    return client
