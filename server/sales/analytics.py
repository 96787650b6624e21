"""Two set-based aggregates the dashboards reuse: the ageing of what is outstanding and the funnel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from server import clock, db
from server.accounts import membership
from server.accounts.permissions import Actor, RepScope, rep_scope
from server.i18n import N_
from server.sales.opportunities import STAGE_LABELS
from server.sales.tables import OPEN_STAGES, STAGES, Opportunity, Order

# The funnel's ladder: lost is an exit, not a step.
LADDER = ("lead", "qualified", "proposal", "negotiation", "won")
AGEING_BUCKETS = (
    ("not_due", N_("Not yet due")),
    ("d1_30", N_("1–30 days")),
    ("d31_60", N_("31–60 days")),
    ("d61_90", N_("61–90 days")),
    ("d90_plus", N_("Over 90 days")),
)


@dataclass(frozen=True)
class AgeingRow:
    """One rep's outstanding cents in each bucket of AGEING_BUCKETS (shares applied, rounded), or the
    buckets summed over reps (`ageing_totals`: no rep)."""

    rep: UUID | None
    rep_name: str
    orders: int
    not_due: int = 0
    d1_30: int = 0
    d31_60: int = 0
    d61_90: int = 0
    d90_plus: int = 0

    def bucket(self, key: str) -> int:
        return int(getattr(self, key))

    @property
    def total(self) -> int:
        return self.not_due + self.d1_30 + self.d31_60 + self.d61_90 + self.d90_plus


@dataclass(frozen=True)
class Ageing:
    """An ageing table as the dashboards show it: the rows, their totals, the buckets, the day."""

    rows: list[AgeingRow]
    totals: AgeingRow
    as_of: date
    buckets: tuple[tuple[str, str], ...] = AGEING_BUCKETS


@dataclass(frozen=True)
class FunnelStage:
    stage: str
    label: str
    count: int  # opportunities now in this stage
    reached: int  # opportunities whose history reached this step or a later one
    conversion: float | None  # reached(next step) / reached(this step)
    avg_days: float | None  # mean time in the stage
    intervals: int  # how many stays the mean is over


@dataclass(frozen=True)
class Funnel:
    start: date
    end: date
    total: int
    stages: list[FunnelStage]
    won: int
    lost: int
    win_rate: float | None



async def _rep_condition(actor: Actor, rep_ids: list[UUID] | None, column: str, args: list) -> str | None:
    """SQL condition limiting `column` (a rep id) to the actor's scope and `rep_ids`; None: nothing visible."""
    scope = (await rep_scope(actor)).within(rep_ids)
    return None if scope.nobody else scope.sql(column, args)


def _team_condition(actor: Actor, team_ids: list[UUID], rep_column: str, day_column: str,
                    args: list) -> tuple[str, str] | None:
    """(joins, condition) keeping the records whose rep was in one of `team_ids` (those the actor may read:
    admin any, a manager the teams they lead) on the record's date, as the boards attribute them
    (`membership.team_on_sql`); None: nothing visible."""
    teams = _readable(actor, team_ids)
    if not teams:
        return None
    joins, team = membership.team_on_sql(rep_column, day_column)
    ever = membership.ever_in_sql(rep_column, teams, args)
    return joins, f"{ever} AND {membership.team_in_sql(team, teams, args)} AND {membership.IS_REP}"


def _readable(actor: Actor, team_ids: list[UUID]) -> list[UUID]:
    """The teams of `team_ids` whose records the actor reads: admin any, a manager the teams they lead."""
    return [t for t in team_ids if actor.is_admin or (actor.is_manager and t in actor.led_team_ids)]


async def ageing(actor: Actor, as_of: date, rep_ids: list[UUID] | None = None,
                 team_ids: list[UUID] | None = None) -> list[AgeingRow]:
    """Outstanding balances as of `as_of`, per rep of the actor's scope (narrowed to `rep_ids`; with
    `team_ids`, instead: the orders earned while their rep was in one of those teams, by the order's date
    and the membership then, as the boards attribute them), in ageing
    buckets by days past due (due date, else order date): not_due (0 or fewer), d1_30, d31_60, d61_90,
    d90_plus. Outstanding = amount - returns - collections dated by `as_of`, of orders dated by `as_of`
    and not void. A shared order's outstanding is each rep's stored credited cents less their stored
    shares of its returns and collections, so the reps' rows add up exactly to the orders' outstanding
    (the company total is the money outstanding, to the cent).

    One AgeingRow per rep with any outstanding (amounts in cents), sorted by rep name. One SQL statement."""
    # Bucket edges as dates: days past due d = as_of - due, so 1 <= d <= 30 is as_of-30 <= due <= as_of-1.
    edges = [as_of - timedelta(days=n) for n in (30, 60, 90)]
    scope_args: list = []
    joins = ""
    if team_ids is not None:
        by_team = _team_condition(actor, team_ids, "s.rep", "so.order_date", scope_args)
        if by_team is None:
            return []
        joins, cond = " JOIN sales_order so ON so.id = s.sales_order" + by_team[0], by_team[1]
    else:
        found = await _rep_condition(actor, rep_ids, "s.rep", scope_args)
        if found is None:
            return []
        cond = found
    # Scope first: only the orders a rep in scope holds a share of, each order's collections and returns
    # summed through their (sales_order) indexes, so a team's ageing reads its own orders.
    sql = (
        "WITH scoped AS (SELECT s.sales_order, s.rep, COALESCE((SELECT SUM(p.amount_cents) FROM order_split p"
        " WHERE p.sales_order = s.sales_order AND p.rep = s.rep), 0) AS amount_cents FROM"
        " (SELECT sales_order, rep FROM order_split UNION SELECT sales_order, rep FROM order_return_split) s"
        f" JOIN app_user u ON u.id = s.rep{joins} WHERE {cond}), "
        "open_orders AS (SELECT o.id, COALESCE(o.due_date, o.order_date) AS due, o.amount_cents"
        " - COALESCE((SELECT SUM(r.amount_cents) FROM order_return r WHERE r.sales_order = o.id AND r.return_date <= {}), 0)"
        " - COALESCE((SELECT SUM(c.amount_cents) FROM collection c WHERE c.sales_order = o.id AND c.received_on <= {}), 0)"
        " AS outstanding FROM sales_order o WHERE o.id IN (SELECT sales_order FROM scoped) AND o.order_date <= {}"
        " AND o.voided_at IS NULL), "
        "owed AS (SELECT sc.sales_order, sc.rep, sc.amount_cents"
        " + COALESCE((SELECT SUM(rs.amount_cents) FROM order_return_split rs WHERE rs.sales_order = sc.sales_order"
        " AND rs.rep = sc.rep AND rs.return_date <= {}), 0)"
        " - COALESCE((SELECT SUM(cs.amount_cents) FROM collection_split cs WHERE cs.sales_order = sc.sales_order"
        " AND cs.rep = sc.rep AND cs.received_on <= {}), 0) AS owed FROM scoped sc) "
        "SELECT ow.rep AS rep, u.display_name AS rep_name, COUNT(*) AS orders, "
        "SUM(CASE WHEN oo.due >= {} THEN ow.owed ELSE 0 END) AS not_due, "
        "SUM(CASE WHEN oo.due < {} AND oo.due >= {} THEN ow.owed ELSE 0 END) AS d1_30, "
        "SUM(CASE WHEN oo.due < {} AND oo.due >= {} THEN ow.owed ELSE 0 END) AS d31_60, "
        "SUM(CASE WHEN oo.due < {} AND oo.due >= {} THEN ow.owed ELSE 0 END) AS d61_90, "
        "SUM(CASE WHEN oo.due < {} THEN ow.owed ELSE 0 END) AS d90_plus "
        "FROM open_orders oo JOIN owed ow ON ow.sales_order = oo.id JOIN app_user u ON u.id = ow.rep "
        "WHERE oo.outstanding > 0 AND ow.owed <> 0 GROUP BY ow.rep, u.display_name ORDER BY u.display_name"
    )
    args = [*scope_args, as_of, as_of, as_of, as_of, as_of,
            as_of, as_of, edges[0], edges[0], edges[1], edges[1], edges[2], edges[2]]
    rows = await Order.raw(sql, *args)
    return [AgeingRow(db.as_uuid(r["rep"]), r["rep_name"], int(r["orders"]),
                      **{key: int(r[key] or 0) for key, _label in AGEING_BUCKETS}) for r in rows]


def ageing_totals(rows: list[AgeingRow]) -> AgeingRow:
    """The buckets summed over reps (a team's or the company's ageing)."""
    return AgeingRow(None, "", sum(r.orders for r in rows),
                     **{key: sum(r.bucket(key) for r in rows) for key, _label in AGEING_BUCKETS})


def _utc_start(day: date) -> datetime:
    """The instant the company's `day` begins, in UTC."""
    return datetime.combine(day, time(0), tzinfo=clock.company_tz()).astimezone(UTC)


async def funnel(actor: Actor, start: date, end: date, rep_ids: list[UUID] | None = None,
                 team_ids: list[UUID] | None = None) -> Funnel:
    """The opportunity funnel of the actor's scope (narrowed to `rep_ids`) for the window start..end
    (inclusive company days). Opportunities counted: created by the end of the window and not closed
    before it starts. With `team_ids`, instead of `rep_ids`: the opportunities whose owner was in one of
    those teams (the membership in force) on the day the deal closed, or for a deal still open at the
    window's end on its last day, so a team's funnel of a past half year keeps the deals of a rep who
    has moved on since.

    Returns a Funnel whose stages (FunnelStage, in STAGES order) have
    - count: opportunities now in that stage;
    - reached: opportunities whose history reached that step of lead → qualified → proposal → negotiation
      → won or a later one (skipping a step passes through it; lost is an exit, not a step);
    - conversion: reached(next step) / reached(this step), None for won, lost or when nothing reached it;
    - avg_days: the mean time in that stage over the history's intervals (an open current stage counts
      until now; a closed current stage has no interval), None when there is none;
    - win_rate: won / (won + lost) among the counted opportunities.
    Three SQL aggregates; no loop over opportunities in Python."""
    args: list = []
    empty = Funnel(start, end, 0, [FunnelStage(s, STAGE_LABELS[s], 0, 0, None, None, 0) for s in STAGES], 0, 0, None)
    in_window = "op.created_at < {} AND (op.closed_on IS NULL OR op.closed_on >= {})"
    if team_ids is not None:
        # The day a deal is attributed on: its close within the window, else the window's last day.
        team_args: list = []
        by_team = _team_condition(actor, team_ids, "d.owner", "d.team_day", team_args)
        if by_team is None:
            return empty
        dated = ("SELECT op.id, op.stage, op.owner, CASE WHEN op.closed_on IS NOT NULL AND op.closed_on <= {}"
                 f" THEN op.closed_on ELSE {{}} END AS team_day FROM opportunity op WHERE {in_window}")
        window_sql = f"SELECT d.id, d.stage FROM ({dated}) d{by_team[0]} WHERE {by_team[1]}"
        window_args = [end, end, _utc_start(end + timedelta(days=1)), start, *team_args]
    else:
        cond = await _rep_condition(actor, rep_ids, "op.owner", args)
        if cond is None:
            return empty
        window_sql = f"SELECT op.id, op.stage FROM opportunity op JOIN app_user u ON u.id = op.owner WHERE {cond} AND {in_window}"
        window_args = [*args, _utc_start(end + timedelta(days=1)), start]
    counts = await Opportunity.raw(f"SELECT w.stage AS stage, COUNT(*) AS n FROM ({window_sql}) w GROUP BY w.stage",
                                   *window_args)
    by_stage = {r["stage"]: int(r["n"]) for r in counts}
    rank = "CASE h.to_stage " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(LADDER)) + " ELSE -1 END"
    reached_sql = (
        f"SELECT {', '.join(f'SUM(CASE WHEN m.top >= {i} THEN 1 ELSE 0 END) AS r{i}' for i in range(len(LADDER)))} "
        f"FROM (SELECT h.opportunity, MAX({rank}) AS top FROM opportunity_stage h "
        f"JOIN ({window_sql}) w ON w.id = h.opportunity GROUP BY h.opportunity) m"
    )
    reached_row = (await Opportunity.raw(reached_sql, *window_args))[0]
    reached = [int(reached_row[f"r{i}"] or 0) for i in range(len(LADDER))]
    span = db.days_between(f"COALESCE(x.next_at, CASE WHEN x.open_now THEN {db.timestamp_param()} END)", "x.changed_at")
    open_list = ", ".join(f"'{s}'" for s in OPEN_STAGES)
    days_sql = (
        f"SELECT x.to_stage AS stage, AVG({span}) AS avg_days, COUNT({span}) AS intervals FROM ("
        "SELECT h.to_stage, h.changed_at, "
        "LEAD(h.changed_at) OVER (PARTITION BY h.opportunity ORDER BY h.changed_at, h.id) AS next_at, "
        f"CASE WHEN h.to_stage IN ({open_list}) THEN 1 ELSE 0 END = 1 AS open_now "
        f"FROM opportunity_stage h JOIN ({window_sql}) w ON w.id = h.opportunity) x GROUP BY x.to_stage"
    )
    now = clock.now()
    now_arg = db.timestamp_arg(now)
    days = {r["stage"]: r for r in await Opportunity.raw(days_sql, now_arg, now_arg, *window_args)}
    stages = []
    for s in STAGES:
        i = LADDER.index(s) if s in LADDER else None
        conversion = None
        if i is not None and i + 1 < len(LADDER) and reached[i]:
            conversion = reached[i + 1] / reached[i]
        d = days.get(s)
        avg = None if not d or d["avg_days"] is None else float(d["avg_days"])
        stages.append(FunnelStage(
            stage=s, label=STAGE_LABELS[s], count=by_stage.get(s, 0),
            reached=reached[i] if i is not None else by_stage.get(s, 0) if s == "lost" else 0,
            conversion=conversion, avg_days=avg, intervals=int(d["intervals"]) if d else 0,
        ))
    won, lost = by_stage.get("won", 0), by_stage.get("lost", 0)
    return Funnel(start=start, end=end, total=sum(by_stage.values()), stages=stages, won=won, lost=lost,
                  win_rate=won / (won + lost) if won + lost else None)



@dataclass(frozen=True)
class Adjustment:
    """A change a number includes or leaves out, for the explain view: a return or credit note dated in
    the period (`cents`: what it takes off the scope's reps, negative), a collection correction or a
    closed month's order correction (`order_corrections`: the difference it credits) dated in it,
    or an order of the period that was voided (left out; `cents` is what it would have credited)."""

    kind: str  # return | credit_note | correction (of a collection) | order_correction | void
    ref: str
    day: date  # the return's, correction's or voided order's date
    cents: int
    order_number: str
    order_date: date


async def adjustments(kpi_code: str, start: date, end: date, rep_ids: list[UUID] | None) -> list[Adjustment]:
    """What a money KPI's number for these reps and dates includes from later changes, or leaves out."""
    if rep_ids == []:
        return []
    args: list = []
    reps = "" if rep_ids is None else " AND " + RepScope(tuple(rep_ids)).sql("x.rep", args)
    if kpi_code in ("revenue", "gross_margin", "gross_margin_pct"):
        column = "amount_cents" if kpi_code == "revenue" else "margin_cents"
        sql = (
            "SELECT CASE WHEN rt.kind = 'correction' THEN 'order_correction' ELSE rt.kind END AS kind,"
            f" rt.number AS ref, x.return_date AS day, SUM(x.{column}) AS cents,"
            " o.number AS order_number, o.order_date AS order_date FROM order_return_split x"
            " JOIN order_return rt ON rt.id = x.order_return JOIN sales_order o ON o.id = x.sales_order"
            f" WHERE o.voided_at IS NULL AND x.return_date BETWEEN {{}} AND {{}}{reps}"
            " GROUP BY rt.kind, rt.number, x.return_date, o.number, o.order_date"
            " UNION ALL "
            f"SELECT 'void' AS kind, o.number AS ref, x.order_date AS day, SUM(x.{column}) AS cents,"
            " o.number AS order_number, o.order_date AS order_date FROM order_split x"
            " JOIN sales_order o ON o.id = x.sales_order"
            f" WHERE o.voided_at IS NOT NULL AND x.order_date BETWEEN {{}} AND {{}}{reps}"
            " GROUP BY o.number, x.order_date, o.order_date")
        params = [start, end, *args, start, end, *args]
    elif kpi_code == "collections":
        sql = (
            "SELECT 'correction' AS kind, c.number AS ref, x.received_on AS day, SUM(x.amount_cents) AS cents,"
            " o.number AS order_number, o.order_date AS order_date FROM collection_split x"
            " JOIN collection c ON c.id = x.collection JOIN sales_order o ON o.id = x.sales_order"
            f" WHERE c.kind = 'correction' AND o.voided_at IS NULL AND x.received_on BETWEEN {{}} AND {{}}{reps}"
            " GROUP BY c.number, x.received_on, o.number, o.order_date")
        params = [start, end, *args]
    else:
        return []
    rows = await Order.raw(f"SELECT * FROM ({sql}) a ORDER BY a.day, a.ref LIMIT 200", *params)
    out = []
    for r in rows:
        day, order_date = db.as_date(r["day"]), db.as_date(r["order_date"])
        if day is not None and order_date is not None:  # NOT NULL columns
            out.append(Adjustment(r["kind"], r["ref"], day, int(r["cents"] or 0), r["order_number"], order_date))
    return out
