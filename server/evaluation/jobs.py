"""The evaluation domain's job: `evaluation.scores`.

Nightly, every cycle still open or rating gets its reps' provisional scores computed again from the
period's rows (set-based: `measures.gather`, once per period for the reps of all those cycles); a cycle
in rating whose rating due date has passed is closed: its final scores are computed once and frozen from
then on (a later order correction does not change them; only an admin's re-open does, with a reason).

Reminders: on each of the days before a cycle's rating due date that `FIELDPACE_EVAL_REMINDER_DAYS` names
(`settings.reminder_days`, default 3, 1 and 0: the due date itself), every
rater with a form not yet submitted gets one "your rating is due" reminder through the notification
path. The notification's dedup key carries the day, so a job run twice on a day reminds once."""

from __future__ import annotations

from collections import Counter
from datetime import date

from server import clock
from server.evaluation import scores, services
from server.evaluation.tables import EvaluationCycle, RaterAssignment
from server.jobs.registry import JobContext
from server.notifications.services import NewNotification, notify


async def remind(cycle: dict, today: date, days: tuple[int, ...]) -> int:
    """Remind the raters of a cycle in rating who have not submitted every form, on a reminder day;
    returns how many reminders were created (0 when this day's were made already)."""
    due = cycle["rating_due"]
    if cycle["state"] != "rating" or due is None or (due - today).days not in days:
        return 0
    waiting = Counter(r["rater"] for r in await RaterAssignment.select(RaterAssignment.rater).where(
        (RaterAssignment.cycle == cycle["id"]) & RaterAssignment.submitted_at.is_null()))
    created = await notify([NewNotification(
        recipient=rater, kind="evaluation_reminder", rule="evaluation", subject=str(cycle["id"]),
        period=cycle["period"], level=f"reminder-{today.isoformat()}", url="/evaluation",
        params={"period": cycle["period"], "due": due.isoformat(), "open": n}) for rater, n in waiting.items()])
    return len(created)


async def compute_scores(ctx: JobContext) -> dict[str, int]:
    today = clock.today()
    peer_min = ctx.settings.evaluation_peer_min
    counts = {"cycles": 0, "provisional": 0, "closed": 0, "final": 0, "reminders": 0}
    rows = await EvaluationCycle.select().where(EvaluationCycle.state.is_in(["open", "rating"]))
    provisional = []
    for cycle in rows:
        counts["cycles"] += 1
        if cycle["state"] == "rating" and cycle["rating_due"] is not None and cycle["rating_due"] < today:
            counts["final"] += await services.close(cycle, peer_min, None, today=today)
            counts["closed"] += 1
            continue
        counts["reminders"] += await remind(cycle, today, ctx.settings.reminder_days)
        provisional.append(cycle["id"])
    # Every other cycle at once: one pass over each period's rows for all their reps.
    counts["provisional"] = await scores.compute_cycles(provisional, final=False, peer_min=peer_min, today=today)
    return counts
