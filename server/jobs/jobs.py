"""The scheduler's own jobs: pruning its run records, and a heartbeat."""

from __future__ import annotations

from datetime import timedelta

from server.jobs.registry import JobContext
from server.jobs.tables import JobRun


async def heartbeat(ctx: JobContext) -> dict[str, int]:
    """Nothing but a recorded run (tests and operators watch its slots)."""
    return {"beats": 1}


async def prune_runs(ctx: JobContext) -> dict[str, int]:
    """Delete finished run records older than the configured history."""
    cutoff = ctx.slot - timedelta(days=ctx.settings.job_history_days)
    gone = await JobRun.delete().where((JobRun.started_at < cutoff) & (JobRun.outcome != "running")).returning(JobRun.id)
    return {"deleted": len(gone)}
