"""Shared fixtures: real databases (a SQLite file, and PostgreSQL when configured), the app and its client.

`FIELDPACE_TEST_POSTGRES_URL` (CI sets it to the local server) adds the PostgreSQL engine: every test
that uses `client` then runs on both. Each run creates its own PostgreSQL database and drops it at the end.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse, urlunparse

import pytest
from litestar.testing import TestClient

from server.app import create_app
from server.piccolo_app import TABLES_CHILD_FIRST
from server.settings import ROOT, Settings
from tests import factories

PG_URL = os.environ.get("FIELDPACE_TEST_POSTGRES_URL", "")
ENGINES = ["sqlite", "postgres"]
# Rows the migrations seed: the sync counter keeps counting, built-in KPIs stay (custom ones go),
# thresholds go back to their defaults. Every other table is emptied, children first (the Piccolo app's
# table list, ordered by foreign keys).
SEEDED = {"sync_counter", "kpi", "pace_setting", "alert_rule", "scorecard_template", "scorecard_dimension",
          "scorecard_item"}
RESETS = ["DELETE FROM kpi WHERE NOT builtin", "UPDATE kpi SET active = TRUE",
          "UPDATE pace_setting SET on_track_min = 0.95, at_risk_min = 0.8"]
# Scorecard templates: the ready ones stay (the migration seeds them), the ones a test made go.
RESETS += ["DELETE FROM scorecard_item WHERE dimension IN (SELECT d.id FROM scorecard_dimension d"
           " JOIN scorecard_template t ON t.id = d.template WHERE NOT t.builtin)",
           "DELETE FROM scorecard_dimension WHERE template IN (SELECT id FROM scorecard_template WHERE NOT builtin)",
           "DELETE FROM scorecard_template WHERE NOT builtin", "UPDATE scorecard_template SET current = TRUE"]
# Alert rules go back to the defaults their migration seeds.
RESETS += [f"UPDATE alert_rule SET enabled = TRUE, to_rep = TRUE, to_manager = TRUE, params = '{p}' WHERE code = '{c}'"
           for c, p in (("lagging", '{"min_elapsed": 0.25}'), ("inactivity", '{"days": 3}'),
                        ("anomaly", '{"fraction": 0.5}'), ("missing_report", '{"cutoff": "18:00"}'),
                        ("feedback", "{}"))]


def migrate(url: str) -> None:
    """Apply the real migrations through the real command line, as `make demo` does."""
    env = {**os.environ, "FIELDPACE_DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _with_db(url: str, name: str) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(path=f"/{name}"))


def _pg_admin(url: str, sql: str) -> None:
    """Run one administrative statement. In a thread of its own: the browser tests' Playwright keeps an
    event loop running in the main thread, where asyncio.run() is not allowed."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory):
    """engine name -> migrated database URL for this test run."""
    urls = {}
    sqlite_path = tmp_path_factory.mktemp("db") / "test.sqlite3"
    urls["sqlite"] = f"sqlite:///{sqlite_path}"
    migrate(urls["sqlite"])
    pg_name = None
    if PG_URL:
        pg_name = f"fieldpace_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        _pg_admin(PG_URL, f'CREATE DATABASE "{pg_name}"')
        urls["postgres"] = _with_db(PG_URL, pg_name)
        migrate(urls["postgres"])
    yield urls
    if pg_name:
        _pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


@pytest.fixture(params=ENGINES)
def engine_name(request, database_urls):
    if request.param not in database_urls:
        pytest.skip("PostgreSQL not configured: set FIELDPACE_TEST_POSTGRES_URL")
    return request.param


@pytest.fixture
def settings(engine_name, database_urls, tmp_path) -> Settings:
    return Settings.from_env(
        data_dir=tmp_path / "data", database_url=database_urls[engine_name], timezone="Asia/Shanghai",
        default_locale="en", debug=False, scheduler=False,
    )


@pytest.fixture
def client(settings):
    """The app through its HTTP test client, on an emptied database."""
    app = create_app(settings)
    with TestClient(app=app, base_url="http://testserver.local") as c:
        c.run(_truncate())
        yield c


async def _truncate() -> None:
    from server.accounts.tables import User

    for table in TABLES_CHILD_FIRST:
        if table._meta.tablename not in SEEDED:
            await User.raw(f'DELETE FROM "{table._meta.tablename}"')
    for sql in RESETS:
        await User.raw(sql)


def _run(self: TestClient, coro):
    """Run a coroutine on the app's event loop (the one its connection pool lives on)."""
    return self.blocking_portal.call(lambda: coro)


def _csrf(self: TestClient) -> str:
    token = self.cookies.get("fieldpace_csrf")
    if not token:
        self.get("/login")
        token = self.cookies.get("fieldpace_csrf")
    return token or ""


def _post_form(self: TestClient, url: str, data: dict | None = None, **kwargs):
    """POST a form the way a browser does, CSRF token included."""
    payload = {"_csrf_token": self.csrf(), **(data or {})}
    return self.post(url, data=payload, follow_redirects=kwargs.pop("follow_redirects", False), **kwargs)


def _post_json(self: TestClient, url: str, body, **kwargs):
    headers = {"x-csrftoken": self.csrf(), **kwargs.pop("headers", {})}
    return self.post(url, json=body, headers=headers, **kwargs)


def _login(self: TestClient, username: str, password: str = factories.PASSWORD):
    self.cookies.clear()
    response = self.post_form("/login", {"username": username, "password": password})
    assert response.status_code == 303, response.text[:500]
    return response


TestClient.run = _run
TestClient.csrf = _csrf
TestClient.post_form = _post_form
TestClient.post_json = _post_json
TestClient.login = _login


class World:
    """A small company: two teams, their managers, reps, customers, and an admin."""

    def __init__(self, client: TestClient):
        f = factories
        run = client.run
        self.team_a = run(f.team("Team A"))
        self.team_b = run(f.team("Team B"))
        self.rep = run(f.user("rep", self.team_a, username="rep_a1"))
        self.other_rep = run(f.user("rep", self.team_a, username="rep_a2"))
        self.rep_b = run(f.user("rep", self.team_b, username="rep_b1"))
        self.manager = run(f.user("manager", username="mgr_a", leads=[self.team_a]))
        self.other_manager = run(f.user("manager", username="mgr_b", leads=[self.team_b]))
        self.admin = run(f.user("admin", username="boss"))
        self.customer = run(f.customer(self.rep, "Acme Shanghai"))
        self.other_customer = run(f.customer(self.other_rep, "Beta Suzhou"))
        self.customer_b = run(f.customer(self.rep_b, "Gamma Beijing"))


@pytest.fixture
def world(client) -> World:
    return World(client)
