"""The `pace.refresh` job on SQLite and PostgreSQL: its rows are the pace engine's figures, a second run
updates them rather than adding rows, and the job is registered and listed."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime

from server.jobs.registry import find
from server.jobs.schedule import Every
from server.settings import ROOT
from server.targets import jobs, pace
from server.targets.tables import COMPANY_SCOPE_ID, PaceSnapshot
from tests import factories

TODAY = date(2026, 12, 10)  # a Thursday
NOW = datetime(2026, 12, 10, 6, 0, tzinfo=UTC)


def setup_december(client, w) -> None:
    run = client.run
    run(factories.order(w.customer, {w.rep: 6000, w.other_rep: 4000}, amount=7500, cost=5000, day=date(2026, 12, 2)))
    run(factories.order(w.customer_b, {w.rep_b: 10000}, amount=1200, cost=500, day=date(2026, 12, 3)))
    pid = run(factories.plan(2026, targets={"revenue": 120000.0}, status="approved"))
    run(factories.target(pid, "revenue", "2026-12", "rep", w.rep, 20000))
    run(factories.target(pid, "revenue", "2026-12", "team", w.team_a, 30000))
    run(factories.target(pid, "revenue", "2026-12", "company", COMPANY_SCOPE_ID, 40000))
    run(factories.target(pid, "revenue", "2026-Q4", "company", COMPANY_SCOPE_ID, 100000))


def stored(client) -> dict[tuple[str, str, str, str], dict]:
    rows = client.run(PaceSnapshot.select())
    return {(r["scope_kind"], str(r["scope_id"]), r["kpi"], r["period"]): r for r in rows}


def close(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-9)


def test_refresh_stores_the_engines_figures_and_a_second_run_updates(client, world):
    w = world
    setup_december(client, w)
    counts = client.run(jobs.refresh(today=TODAY, now=NOW))
    rows = stored(client)
    assert counts["rows"] == len(rows) > 0 and counts["reps"] == 3 and counts["teams"] == 2

    for period in ("2026-12", "2026-Q4"):
        board = client.run(pace.compute(jobs.SYSTEM, period, today=TODAY))
        expected = jobs.snapshot_rows(board, NOW)
        assert len([k for k in rows if k[3] == period]) == len(expected)
        for row in expected:
            got = rows[(row[1], str(row[2]), row[3], row[4])]
            for name, value in zip(jobs.COLUMNS[5:10], row[5:10], strict=True):
                assert close(got[name], value), (row[1], row[3], period, name, got[name], value)
            assert got["status"] == row[10] and close(got["elapsed"], row[11])

    # Hand-checked figures: rep_a1 has 60 % of 7,500 in December against 20,000; the company 8,700 of 40,000.
    rep = rows[("rep", str(w.rep), "revenue", "2026-12")]
    assert rep["actual"] == 4500 and rep["target"] == 20000
    company = rows[("company", COMPANY_SCOPE_ID, "revenue", "2026-12")]
    assert company["actual"] == 8700 and company["target"] == 40000
    assert rows[("company", COMPANY_SCOPE_ID, "revenue", "2026-Q4")]["target"] == 100000
    assert rows[("team", str(w.team_b), "revenue", "2026-12")]["target"] is None

    # A new order, a second run: the same rows, updated in place.
    client.run(factories.order(w.customer, {w.rep: 10000}, amount=500, cost=100, day=date(2026, 12, 9)))
    later = datetime(2026, 12, 10, 7, 0, tzinfo=UTC)
    again = client.run(jobs.refresh(today=TODAY, now=later))
    after = stored(client)
    assert again["rows"] == counts["rows"] and after.keys() == rows.keys()
    assert after[("rep", str(w.rep), "revenue", "2026-12")]["actual"] == 5000
    assert after[("company", COMPANY_SCOPE_ID, "revenue", "2026-12")]["actual"] == 9200
    assert all(r["id"] == rows[k]["id"] for k, r in after.items())  # updated, not replaced
    assert all(r["computed_at"] == later for r in after.values())


def test_the_job_is_registered_hourly_on_working_days(settings):
    job = find(settings, "pace.refresh")
    assert job is not None and job.run is jobs.refresh_snapshots
    assert job.schedule == Every(3600, working_days=True)


def test_the_job_is_listed_and_runs_from_the_command_line(database_urls, tmp_path):
    env = {**os.environ, "FIELDPACE_DATABASE_URL": database_urls["sqlite"], "FIELDPACE_DATA_DIR": str(tmp_path)}
    listed = subprocess.run([sys.executable, "-m", "server.cli", "jobs", "list"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "pace.refresh" in listed.stdout and "every 1 h on working days" in listed.stdout
    ran = subprocess.run([sys.executable, "-m", "server.cli", "jobs", "run", "pace.refresh"], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "pace.refresh: ok" in ran.stdout and '"rows"' in ran.stdout


def test_the_admin_jobs_page_shows_the_job_and_its_counts(client, world):
    client.login("boss")
    assert client.post_form("/admin/jobs/pace.refresh/run").status_code == 303
    page = client.get("/admin/jobs")
    assert page.status_code == 200
    assert "pace.refresh" in page.text and "rows " in page.text
    assert client.run(PaceSnapshot.count()) > 0
