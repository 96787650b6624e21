"""Job runs: one row per (job, slot), claimed by inserting it under a unique key."""

from piccolo.columns import UUID, Text, Timestamptz, Varchar
from piccolo.table import Table

OUTCOMES = ("running", "ok", "error")


class JobRun(Table, tablename="job_run"):
    """One run of one job for one slot. The unique (job, slot) index is what makes a scheduled slot run
    once across every process sharing the database: the process whose INSERT succeeds runs it."""

    id = UUID(primary_key=True)
    job = Varchar(length=60)
    slot = Timestamptz()  # the scheduled moment (UTC); a manual run's slot is the moment it was asked for
    trigger = Varchar(length=12, default="schedule")  # schedule | manual | command
    runner = Varchar(length=120, default="")  # host:pid of the process that claimed it
    started_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
    outcome = Varchar(length=12, default="running")
    counts = Text(default="{}")  # JSON: what the job did, e.g. {"created": 3}
    error = Text(default="")
