"""The evaluation domain's job: `evaluation.scores`.

Nightly, every cycle still open or rating gets its reps' provisional scores computed again from the
period's rows (set-based: `measures.gather`, once per period for the reps of all those cycles); a cycle
in rating whose rating due date has passed is closed: its final scores are computed once and frozen from
then on (a later order correction does not change them; only an admin's re-open does, with a reason)."""

from __future__ import annotations

from server import clock
from server.evaluation import scores, services
from server.evaluation.tables import EvaluationCycle
from server.jobs.registry import JobContext


async def compute_scores(ctx: JobContext) -> dict[str, int]:
    today = clock.today()
    peer_min = ctx.settings.evaluation_peer_min
    counts = {"cycles": 0, "provisional": 0, "closed": 0, "final": 0}
    rows = await EvaluationCycle.select().where(EvaluationCycle.state.is_in(["open", "rating"]))
    provisional = []
    for cycle in rows:
        counts["cycles"] += 1
        if cycle["state"] == "rating" and cycle["rating_due"] is not None and cycle["rating_due"] < today:
            counts["final"] += await services.close(cycle, peer_min, None, today=today)
            counts["closed"] += 1
            continue
        provisional.append(cycle["id"])
    # Every other cycle at once: one pass over each period's rows for all their reps.
    counts["provisional"] = await scores.compute_cycles(provisional, final=False, peer_min=peer_min, today=today)
    return counts
