"""Claiming, running and recording job runs; the scheduler loop; the admin's view of runs.

Once across processes: a run is claimed by inserting its (job, slot) row under the unique index
`job_run_job_slot`; `INSERT ... ON CONFLICT DO NOTHING RETURNING` answers a row to exactly one process,
on SQLite (one writer at a time, across processes on the file) and on PostgreSQL alike. Nothing is held in
memory that another process would need to know.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import traceback
from datetime import date, datetime, timedelta
from uuid import UUID, uuid4

from server import clock, db
from server.accounts.permissions import Actor, require_role
from server.db import Sql
from server.jobs import schedule as schedules
from server.jobs.registry import Job, JobContext, find, registered
from server.jobs.tables import JobRun
from server.settings import Settings

log = logging.getLogger("fieldpace.jobs")
RUNNER = f"{socket.gethostname()}:{os.getpid()}"


def _claim_script(job: str, slot: datetime, trigger: str, now: datetime):
    rows = yield Sql(
        "INSERT INTO job_run (id, job, slot, trigger, runner, started_at, finished_at, outcome, counts, error)"
        " VALUES ({}, {}, {}, {}, {}, {}, NULL, 'running', {}, '') ON CONFLICT (job, slot) DO NOTHING RETURNING id",
        db.driver_values([uuid4(), job, slot, trigger, RUNNER, now, "{}"]),
    )
    return db.as_uuid(rows[0]["id"]) if rows else None


async def claim(job: str, slot: datetime, trigger: str = "schedule") -> UUID | None:
    """The run's id if this process claimed (job, slot); None if another process (or an earlier run) has it."""
    return await db.run_write(_claim_script(job, slot, trigger, clock.now()))


async def run_claimed(job: Job, run_id: UUID, slot: datetime, settings: Settings, trigger: str) -> str:
    """Run a claimed job and record its outcome; an exception is recorded, never raised."""
    outcome, counts, error = "ok", {}, ""
    try:
        counts = await job.run(JobContext(slot=slot, settings=settings, trigger=trigger)) or {}
    except Exception as e:  # noqa: BLE001 - a failing job is recorded and must not stop the others
        outcome, error = "error", "".join(traceback.format_exception(e))[-4000:]
        log.warning("job %s (slot %s) failed: %s", job.name, slot.isoformat(), e)
    await JobRun.update({
        JobRun.outcome: outcome, JobRun.finished_at: clock.now(), JobRun.counts: json.dumps(counts, sort_keys=True),
        JobRun.error: error,
    }).where(JobRun.id == run_id)
    return outcome


async def run_now(settings: Settings, name: str, trigger: str = "manual") -> tuple[UUID, str] | None:
    """Run one job once, now (the admin's button, `fieldpace jobs run NAME`). None for an unknown job."""
    job = find(settings, name)
    if job is None:
        return None
    slot = clock.now()
    run_id = await claim(name, slot, trigger)
    if run_id is None:  # the same microsecond twice: the other run is this one
        return None
    return run_id, await run_claimed(job, run_id, slot, settings, trigger)


async def _overrides(now: datetime) -> dict[date, bool]:
    from server.targets.calendar import calendar_overrides

    today = now.astimezone(clock.company_tz()).date()
    return await calendar_overrides(today - timedelta(days=45), today + timedelta(days=45))


class Scheduler:
    """Every tick: for each job, its latest slot not after now; claim it; run what was claimed."""

    def __init__(self, settings: Settings, jobs: list[Job] | None = None):
        self.settings = settings
        self.jobs = jobs if jobs is not None else registered(settings)
        self.seen: dict[str, datetime] = {}  # the latest slot this process already tried (saves INSERTs)
        self.tasks: set[asyncio.Task] = set()
        self.started = clock.now()

    async def tick(self, now: datetime | None = None) -> list[str]:
        """One look at the clock; returns the names of the jobs this process claimed."""
        now = now or clock.now()
        overrides = await _overrides(now)
        claimed = []
        for job in self.jobs:
            slot = schedules.latest_slot(job.schedule, now, clock.company_tz(), overrides)
            if slot is None or self.seen.get(job.name) == slot:
                continue
            try:
                run_id = await claim(job.name, slot)
            except Exception:  # noqa: BLE001 - the database is away: try again next tick
                log.exception("could not claim %s", job.name)
                continue
            self.seen[job.name] = slot
            if run_id is None:
                continue
            claimed.append(job.name)
            task = asyncio.get_running_loop().create_task(run_claimed(job, run_id, slot, self.settings, "schedule"))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return claimed

    async def run_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the loop outlives any one failure
                log.exception("scheduler tick failed")
            await asyncio.sleep(self.settings.scheduler_tick_seconds)

    async def drain(self) -> None:
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


# --- The admin's view ------------------------------------------------------------------------------


async def overview(actor: Actor, settings: Settings) -> list[dict]:
    """Every registered job with its next slot and its latest runs (errors included)."""
    require_role(actor, "admin")
    now = clock.now()
    overrides = await _overrides(now)
    jobs = registered(settings)
    rows = await JobRun.select().where(JobRun.job.is_in([j.name for j in jobs])).order_by(
        JobRun.started_at, ascending=False).limit(50 * len(jobs))
    by_job: dict[str, list[dict]] = {}
    for r in rows:
        r["counts"] = json.loads(r["counts"] or "{}")
        if len(by_job.setdefault(r["job"], [])) < 10:
            by_job[r["job"]].append(r)
    return [{
        "name": j.name, "description": j.description, "schedule": j.schedule.describe(),
        "next": schedules.next_slot(j.schedule, now, clock.company_tz(), overrides),
        "runs": by_job.get(j.name, []),
    } for j in jobs]


async def admin_run_now(actor: Actor, settings: Settings, name: str) -> str | None:
    require_role(actor, "admin")
    done = await run_now(settings, name)
    return done[1] if done else None
