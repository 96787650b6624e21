"""The targets domain's jobs: refresh the pace snapshots.

`pace.refresh` runs the pace engine (`server.targets.pace.compute`, the same call the dashboards and the
lagging-target alert make) for the current month and quarter, as an admin sees them (every rep, team and
the company), and writes every figure to `pace_snapshot` in one write transaction: multi-row upserts on
(scope_kind, scope_id, kpi, period), so running it again updates the rows rather than adding any.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID, uuid4

from server import clock, db
from server.accounts.permissions import Actor
from server.jobs.registry import JobContext
from server.targets import formulas, pace
from server.targets.pace import COMPANY, COMPANY_ID, PaceBoard

SYSTEM = Actor(id=UUID(int=0), username="system", display_name="", role="admin", team_id=None)

COLUMNS = ("id", "scope_kind", "scope_id", "kpi", "period", "actual", "target", "expected", "pace_index",
           "projection", "status", "elapsed", "computed_at")
KEY = ("scope_kind", "scope_id", "kpi", "period")
UPDATED = [c for c in COLUMNS if c not in ("id", *KEY)]
CHUNK = 500  # rows per statement: 6,500 parameters, well within both engines' limits


def snapshot_rows(board: PaceBoard, computed_at: datetime) -> list[list]:
    """One row (values of COLUMNS) per KPI of every rep, team and company line of `board`."""
    rows = []
    for line in board.lines():
        scope_id = COMPANY_ID if line.kind == COMPANY else line.id
        if scope_id is None:  # a manager's "teams" line: not a scope of its own
            continue
        for code, cell in line.cells.items():
            p = cell.pace
            rows.append([uuid4(), line.kind, scope_id, code, board.period, p.actual, p.target, p.expected, p.index,
                         p.projection, p.status, p.elapsed, computed_at])
    return rows


def write(rows: list[list]) -> db.Script:
    """The snapshot's upserts, CHUNK rows per statement."""
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        yield db.Sql(db.upsert("pace_snapshot", COLUMNS, KEY, UPDATED, rows=len(chunk)),
                     db.driver_values([v for row in chunk for v in row]))
    return len(rows)


async def refresh(today: date | None = None, now: datetime | None = None) -> dict[str, int]:
    """Compute and store the pace of the current month and quarter; returns the counts of what it wrote."""
    now = now or clock.now()
    today = today or now.astimezone(clock.company_tz()).date()
    boards = [await pace.compute(SYSTEM, formulas.period_of(today, kind), today=today)
              for kind in (formulas.MONTH, formulas.QUARTER)]
    rows = [row for board in boards for row in snapshot_rows(board, now)]
    written = await db.run_write(write(rows))
    month = boards[0]
    return {"rows": written, "reps": len(month.reps), "teams": len(month.teams), "kpis": len(month.kpis)}


async def refresh_snapshots(ctx: JobContext) -> dict[str, int]:
    """Idempotent: a second run for the same moment rewrites the same rows with the same figures."""
    return await refresh(now=clock.now())
