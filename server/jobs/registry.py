"""Every scheduled job, in one place, with its schedule in the company's time zone and work calendar.

A job is a plain, idempotent async function of its domain (`server/<domain>/jobs.py`) that takes a
`JobContext` and returns counts of what it did. Running it twice for the same slot changes nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, time

from server.i18n import N_
from server.jobs.schedule import Daily, Every, Schedule
from server.settings import Settings


@dataclass(frozen=True)
class JobContext:
    """What a run knows: its slot (the scheduled moment, UTC), the settings, and how it was started."""

    slot: datetime
    settings: Settings
    trigger: str = "schedule"
    extra: dict = field(default_factory=dict)


JobFunction = Callable[[JobContext], Awaitable[dict[str, int]]]


@dataclass(frozen=True)
class Job:
    name: str
    run: JobFunction
    schedule: Schedule
    description: str  # an N_() message id, translated where shown


def registered(settings: Settings) -> list[Job]:
    """The jobs this installation runs."""
    from server.evaluation import jobs as evaluation_jobs
    from server.jobs import jobs as job_jobs
    from server.notifications import jobs as notification_jobs
    from server.targets import jobs as target_jobs
    from server.visits import jobs as visit_jobs

    found = [
        Job("pace.refresh", target_jobs.refresh_snapshots, Every(60 * 60, working_days=True),
            N_("Compute the pace of this month and quarter for every rep, team and the company, and store it.")),
        Job("alerts.evaluate", notification_jobs.evaluate_alerts, Every(15 * 60, working_days=True),
            N_("Evaluate the alert rules for every rep and notify who needs to know.")),
        Job("notifications.send", notification_jobs.send_queued, Every(60),
            N_("Send queued push notifications whose time has come (retries, the end of quiet hours).")),
        Job("notifications.cleanup", notification_jobs.cleanup, Daily(time(3, 30)),
            N_("Delete dead push subscriptions and old read notifications.")),
        Job("evaluation.scores", evaluation_jobs.compute_scores, Daily(time(2, 0)),
            N_("Compute the provisional scores of open evaluation cycles; close those whose rating is due.")),
        Job("photos.cleanup", visit_jobs.cleanup_photos, Daily(time(3, 45)),
            N_("Delete visit photos whose visit never reached the server, after FIELDPACE_PHOTO_ORPHAN_DAYS.")),
        Job("jobs.prune", job_jobs.prune_runs, Daily(time(3, 15)),
            N_("Delete old job run records.")),
    ]
    if settings.heartbeat_seconds > 0:
        found.append(Job("jobs.heartbeat", job_jobs.heartbeat, Every(settings.heartbeat_seconds),
                         N_("Do nothing, on a frequent schedule: shows the scheduler is alive.")))
    return found


def find(settings: Settings, name: str) -> Job | None:
    return next((j for j in registered(settings) if j.name == name), None)
