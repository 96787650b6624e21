"""Real-browser fixtures: Debian's Chromium through Playwright, and the real app served by uvicorn.

One server per test session (`server.testing.ServerProcess`, the benchmarks' too), on a fresh SQLite
database that the real migrations create. Users come from the real command line (`server.cli
create-user`); the team, its leadership and the customers, which have no command, come from
`tests/factories.py`, in a subprocess against the same database.

No Chromium here: the tests are skipped with a notice, unless CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.settings import ROOT
from server.testing import ServerProcess, server_env
from tests import factories

CHROMIUM = os.environ.get("FIELDPACE_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
PASSWORD = factories.PASSWORD
TEAM = "North Shanghai"
REP = {"username": "linwei", "name": "Lin Wei"}
MANAGER = {"username": "zhaomin", "name": "Zhao Min"}
CUSTOMER = "Acme Pudong Trading"
OTHER_CUSTOMER = "Bright Future Retail"
PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
TABLET = {"viewport": {"width": 820, "height": 1180}, "has_touch": True}
TIMEOUT_MS = 10_000


def _unavailable(reason: str) -> None:
    """Skip with a visible reason, or fail in CI where the browser is part of the contract."""
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run in CI)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"Chromium is missing at {CHROMIUM}: install it with `apt-get install -y chromium` "
                     "to run the browser tests")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("Playwright for Python is missing: `pip install -e '.[test]'` to run the browser tests")
    return CHROMIUM


def _run(args: list[str], env: dict, timeout: float = 60) -> str:
    command = " ".join(args[:3]) if args[0] == "-m" else "the seeding snippet"
    try:
        done = subprocess.run([sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = "".join(x.decode() if isinstance(x, bytes) else (x or "") for x in (e.stdout, e.stderr))
        raise AssertionError(f"{command} did not exit within {timeout}s:\n{out}") from None
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


# Teams and team leadership have no command: the team, its manager's leadership and the rep's customers
# come from the test factories. The users themselves go through the real `create-user` command
# (`server.cli.main`), run in the same process to keep start-up short.
SEED = f"""
import asyncio
import os
import sys
from uuid import uuid4
from server import cli, db
from server.accounts.tables import Team, TeamManager, User
from server.settings import Settings
from tests import factories

def bind():
    db.bind(db.make_engine(Settings.from_env().effective_database_url))

bind()
asyncio.run(factories.team({TEAM!r}))
for args in (
    ["create-user", {REP['username']!r}, "--name", {REP['name']!r}, "--role", "rep", "--team", {TEAM!r}],
    ["create-user", {MANAGER['username']!r}, "--name", {MANAGER['name']!r}, "--role", "manager"],
):
    assert cli.main([*args, "--password", factories.PASSWORD]) == 0, args

async def lead_and_customers():
    bind()
    team = (await Team.select(Team.id).where(Team.name == {TEAM!r}).first())["id"]
    manager = (await User.select(User.id).where(User.username == {MANAGER['username']!r}).first())["id"]
    rep = (await User.select(User.id).where(User.username == {REP['username']!r}).first())["id"]
    await TeamManager.insert(TeamManager(id=uuid4(), team=team, manager=manager))
    await factories.customer(rep, {CUSTOMER!r})
    await factories.customer(rep, {OTHER_CUSTOMER!r})

asyncio.run(lead_and_customers())
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)  # done: database connections still open in worker threads must not keep this process alive
"""


@pytest.fixture(scope="session")
def live_env(chromium_path, tmp_path_factory) -> dict:
    """The server's environment: tests may run more seeding (`_run(["-c", ...], live_env)`) or read the
    SQLite file (`live_env["FIELDPACE_DATA_DIR"]/e2e.sqlite3`) against the same database."""
    data = tmp_path_factory.mktemp("e2e-data")
    env = server_env(f"sqlite:///{data / 'e2e.sqlite3'}", data, default_locale="en", timezone="Asia/Shanghai")
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(scope="session")
def live_server(live_env):
    """The real app under uvicorn on a free port, migrated and seeded; yields its base URL."""
    env = live_env
    data = Path(env["FIELDPACE_DATA_DIR"])
    _run(["-m", "server.cli", "migrate"], env)
    _run(["-c", SEED], env)

    with ServerProcess(env, data / "uvicorn.log") as server:
        yield server.base_url


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def new_context(browser, live_server):
    """Factory for isolated browser contexts (own cookies, storage, service workers); closed after the test."""
    made = []

    def make(**options):
        ctx = browser.new_context(base_url=live_server, locale=options.pop("locale", "en-US"),
                                  timezone_id="Asia/Shanghai", **options)
        ctx.set_default_timeout(TIMEOUT_MS)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-screenshots")


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the real form, finding the fields by their visible labels."""
    from playwright.sync_api import expect

    response = page.goto("/login")
    assert response is not None and response.ok, response
    content_type = response.headers.get("content-type", "")
    # A browser shows anything else as text (or downloads it): the page would not be usable at all.
    assert content_type.startswith("text/html"), f"/login is served as {content_type!r}, not text/html"
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
