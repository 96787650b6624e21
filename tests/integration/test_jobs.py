"""Jobs on the real databases: claims under the unique key, the scheduler, recorded runs, the admin page, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from server.jobs import services
from server.jobs.registry import Job
from server.jobs.schedule import Every
from server.jobs.services import Scheduler
from server.jobs.tables import JobRun
from server.settings import ROOT

CALLS: list[str] = []


async def fine(ctx):
    CALLS.append(f"fine {ctx.slot.isoformat()}")
    return {"done": 1}


async def broken(ctx):
    CALLS.append("broken")
    raise RuntimeError("the database of customers is on fire")


def test_a_slot_is_claimed_once(client):
    slot = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    first = client.run(services.claim("demo.job", slot))
    assert first is not None
    assert client.run(services.claim("demo.job", slot)) is None
    assert client.run(services.claim("demo.job", slot + timedelta(minutes=1))) is not None
    assert client.run(services.claim("other.job", slot)) is not None


def test_scheduler_runs_each_slot_once_records_failures_and_catches_up_once(client, settings):
    CALLS.clear()
    jobs = [Job("t.fine", fine, Every(60), "Fine"), Job("t.broken", broken, Every(60), "Broken")]
    now = datetime(2026, 12, 1, 10, 0, 30, tzinfo=UTC)

    async def tick(scheduler, at):
        claimed = await scheduler.tick(at)
        await scheduler.drain()
        return claimed

    one, two = Scheduler(settings, jobs), Scheduler(settings, jobs)  # two processes, in effect
    assert sorted(client.run(tick(one, now))) == ["t.broken", "t.fine"]
    assert client.run(tick(two, now)) == []  # the other "process" finds the slot taken
    assert client.run(tick(one, now + timedelta(seconds=10))) == []  # same slot: nothing
    assert CALLS == ["fine 2026-12-01T10:00:00+00:00", "broken"]  # the failure did not stop the other job
    # Down for five minutes: on return one run per job (the latest slot), not five.
    assert sorted(client.run(tick(two, now + timedelta(minutes=5)))) == ["t.broken", "t.fine"]
    runs = client.run(JobRun.select().order_by(JobRun.slot))
    assert [(r["job"], r["slot"].astimezone(UTC).strftime("%H:%M")) for r in runs if r["job"] == "t.fine"] == [
        ("t.fine", "10:00"), ("t.fine", "10:05")]
    fine_run = next(r for r in runs if r["job"] == "t.fine")
    assert fine_run["outcome"] == "ok" and json.loads(fine_run["counts"]) == {"done": 1}
    assert fine_run["finished_at"] >= fine_run["started_at"]
    failed = next(r for r in runs if r["job"] == "t.broken")
    assert failed["outcome"] == "error" and "the database of customers is on fire" in failed["error"]


def test_admin_sees_runs_and_errors_and_runs_a_job_now(client, world, monkeypatch):
    jobs = [Job("t.fine", fine, Every(60), "Fine"), Job("t.broken", broken, Every(60), "Broken")]
    monkeypatch.setattr(services, "registered", lambda settings: jobs)
    monkeypatch.setattr(services, "find", lambda settings, name: next((j for j in jobs if j.name == name), None))
    client.login("boss")
    r = client.post_form("/admin/jobs/t.broken/run")
    assert r.status_code == 303
    r = client.post_form("/admin/jobs/t.fine/run")
    assert r.status_code == 303
    page = client.get("/admin/jobs")
    assert page.status_code == 200
    assert "t.fine" in page.text and "the database of customers is on fire" in page.text and "done 1" in page.text
    runs = client.run(JobRun.select(JobRun.trigger, JobRun.outcome))
    assert sorted((r["trigger"], r["outcome"]) for r in runs) == [("manual", "error"), ("manual", "ok")]
    assert client.post_form("/admin/jobs/nope/run").status_code == 404
    client.login("mgr_a")
    assert client.get("/admin/jobs").status_code == 403


def test_command_line_lists_and_runs_jobs(database_urls, tmp_path):
    env = {**os.environ, "FIELDPACE_DATABASE_URL": database_urls["sqlite"], "FIELDPACE_DATA_DIR": str(tmp_path)}
    listed = subprocess.run([sys.executable, "-m", "server.cli", "jobs", "list"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "alerts.evaluate" in listed.stdout and "every 15 min on working days" in listed.stdout
    ran = subprocess.run([sys.executable, "-m", "server.cli", "jobs", "run", "notifications.cleanup"], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "notifications.cleanup: ok" in ran.stdout and '"notifications": 0' in ran.stdout
    unknown = subprocess.run([sys.executable, "-m", "server.cli", "jobs", "run", "nope"], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 1 and "No job named" in unknown.stderr
