"""What each KPI measured: set-based SQL aggregates per rep, the same on SQLite and PostgreSQL.

Every KPI reduces to a (numerator, denominator) pair per rep, so teams and the company roll up exactly:
a sum KPI's value is its numerator (the denominator is 1 per rep); a rate KPI's value is
numerator / denominator of the sums (a team's conversion rate is its reps' won over their closed deals,
not an average of their rates). Shared orders count by each rep's share everywhere (`share_bp`).

`actuals()` answers one KPI for one date range in one query; `by_month()` groups by month in the same
query (trends, seasonality, suggestions); `records()` lists the rows behind a number (drill-down and
explanations). Custom KPIs are a count or a sum over a record type with one equality filter, from the
whitelists below, so an admin defines them without code and without SQL.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID

from server import clock, db
from server.accounts import membership
from server.accounts.permissions import RepScope
from server.db import as_uuid
from server.i18n import N_, _
from server.targets.tables import Kpi

Pair = tuple[float, float]


@dataclass(frozen=True)
class KpiDef:
    id: UUID
    code: str
    name: str
    unit: str
    direction: str
    kind: str
    builtin: bool
    source: str
    measure: str
    filter_field: str
    filter_value: str
    floor: float | None
    definition: str
    active: bool
    position: int

    @property
    def label(self) -> str:
        return _(BUILTIN_NAMES[self.code]) if self.builtin and self.code in BUILTIN_NAMES else self.name

    @property
    def explanation(self) -> str:
        """What the KPI counts, in words (the UI shows it beside every number)."""
        if self.builtin and self.code in BUILTIN_DEFINITIONS:
            return _(BUILTIN_DEFINITIONS[self.code])
        return self.definition or describe_custom(self)

    @property
    def measurable(self) -> bool:
        return self.builtin and self.code in BUILTIN_SQL or custom_sql_parts(self) is not None


BUILTIN_NAMES = {
    "revenue": N_("Revenue"),
    "collections": N_("Collections"),
    "gross_margin": N_("Gross margin"),
    "gross_margin_pct": N_("Gross margin %%"),
    "visits": N_("Visits"),
    "new_customers": N_("New customers"),
    "conversion_rate": N_("Conversion rate"),
    "satisfaction": N_("Customer satisfaction"),
}
BUILTIN_DEFINITIONS = {
    "revenue": N_("Amount of orders dated in the period less returns and credit notes dated in it, each rep "
                  "credited with their share of shared orders; voided orders count nowhere."),
    "collections": N_("Payments received in the period against orders, and corrections made in it, credited by "
                      "each rep's share of the order."),
    "gross_margin": N_("Order amount minus cost for orders dated in the period, less the margin of returns dated "
                       "in it, by each rep's share."),
    "gross_margin_pct": N_("Gross margin as a percentage of revenue for orders dated in the period."),
    "visits": N_("Customer visits checked in during the period."),
    "new_customers": N_("Customers created in the period, counted for their owner."),
    "conversion_rate": N_("Opportunities won as a percentage of those won or lost in the period."),
    "satisfaction": N_("Average customer satisfaction (1 to 5) of visits in the period that recorded one."),
}
UNIT_LABELS = {"money": N_("Money"), "count": N_("Count"), "percent": N_("Percent"), "score": N_("Score")}
DIRECTION_LABELS = {"higher": N_("Higher is better"), "lower": N_("Lower is better")}
KIND_LABELS = {"sum": N_("Adds up over the period"), "rate": N_("A rate or average")}

# Built-in KPIs: rep column, numerator, denominator, FROM ... and the date column the period filters on.
# Money KPIs sum the cents stored per credited rep (allocated once by largest remainder, see
# server/sales/money.py), never amount x share, so the rows behind a number add up to it. Revenue and
# margin are the order splits plus the returns' (negative) splits, each dated in its own period; voided
# orders count nowhere.
# The order split rows that count: those of orders not voided (a voided order counts nowhere). The one
# definition the boards, the custom order KPIs, the drill-downs and the alerts (weekly order counts) read.
LIVE_ORDER_SPLITS = "order_split s JOIN sales_order o ON o.id = s.sales_order AND o.voided_at IS NULL"
ORDER_CREDITS = (
    "(SELECT s.rep AS rep, s.order_date AS day, s.amount_cents AS amount_cents, s.margin_cents AS margin_cents"
    f" FROM {LIVE_ORDER_SPLITS}"
    " UNION ALL SELECT r.rep, r.return_date, r.amount_cents, r.margin_cents FROM order_return_split r"
    " JOIN sales_order o ON o.id = r.sales_order WHERE o.voided_at IS NULL) k"
)
BUILTIN_SQL: dict[str, tuple[str, str, str, str, str]] = {
    "revenue": ("k.rep", "SUM(k.amount_cents) / 100.0", "COUNT(*)", ORDER_CREDITS, "k.day"),
    "gross_margin": ("k.rep", "SUM(k.margin_cents) / 100.0", "COUNT(*)", ORDER_CREDITS, "k.day"),
    "gross_margin_pct": ("k.rep", "SUM(k.margin_cents) * 1.0", "SUM(k.amount_cents) / 100.0", ORDER_CREDITS,
                         "k.day"),
    "collections": ("k.rep", "SUM(k.amount_cents) / 100.0", "COUNT(*)",
                    "collection_split k JOIN sales_order o ON o.id = k.sales_order AND o.voided_at IS NULL",
                    "k.received_on"),
    "visits": ("v.rep", "COUNT(*)", "COUNT(*)", "visit v", "v.visit_date"),
    "new_customers": ("c.owner", "COUNT(*)", "COUNT(*)", "customer c", "@c.created_at"),
    "conversion_rate": ("p.owner", "SUM(CASE WHEN p.stage = 'won' THEN 100.0 ELSE 0 END)", "COUNT(*)",
                        "opportunity p", "p.closed_on"),
    "satisfaction": ("v.rep", "SUM(v.satisfaction)", "COUNT(v.satisfaction)", "visit v", "v.visit_date"),
}
# Extra conditions of a built-in KPI.
BUILTIN_WHERE = {
    "conversion_rate": "p.stage IN ('won', 'lost')",
}

# Custom KPIs: per record type, its FROM, rep column, date column ("@" marks a timestamp, compared by the
# company-time-zone day), the fields one may filter on and the amounts one may sum.
SOURCES: dict[str, dict] = {
    "visits": {"from": "visit v", "rep": "v.rep", "date": "v.visit_date", "weight": "1",
               "filters": {"purpose": "v.purpose", "satisfaction": "v.satisfaction"},
               "sums": {"satisfaction": "v.satisfaction"}},
    "customers": {"from": "customer c", "rep": "c.owner", "date": "@c.created_at", "weight": "1",
                  "filters": {}, "sums": {}},
    # Orders and collections: their sums are the rep's stored credited cents ("credited": no weight).
    "orders": {"from": LIVE_ORDER_SPLITS,
               "rep": "s.rep", "date": "s.order_date", "weight": "s.share_bp / 10000.0", "credited": True,
               "filters": {"source": "o.source"},
               "sums": {"amount": "s.amount_cents / 100.0", "cost": "(s.amount_cents - s.margin_cents) / 100.0",
                        "margin": "s.margin_cents / 100.0"}},
    "collections": {"from": "collection_split k JOIN collection c ON c.id = k.collection"
                            " JOIN sales_order o ON o.id = k.sales_order AND o.voided_at IS NULL"
                            " LEFT JOIN order_split s ON s.sales_order = k.sales_order AND s.rep = k.rep",
                    "rep": "k.rep", "date": "k.received_on", "weight": "COALESCE(s.share_bp, 0) / 10000.0",
                    "credited": True, "filters": {"source": "c.source"}, "sums": {"amount": "k.amount_cents / 100.0"}},
    "opportunities": {"from": "opportunity p", "rep": "p.owner", "date": "@p.created_at", "weight": "1",
                      "filters": {"stage": "p.stage"}, "sums": {"amount": "p.amount_cents / 100.0"}},
}
SOURCE_LABELS = {"visits": N_("Visits"), "customers": N_("Customers"), "orders": N_("Orders"),
                 "collections": N_("Collections"), "opportunities": N_("Opportunities")}
FIELD_LABELS = {"purpose": N_("Purpose"), "satisfaction": N_("Satisfaction"), "source": N_("Source"),
                "stage": N_("Stage"), "amount": N_("Amount"), "cost": N_("Cost"), "margin": N_("Margin")}


def custom_sql_parts(kpi: KpiDef) -> tuple[str, str, str, str, str, list] | None:
    """(rep column, numerator, denominator, FROM, date column, extra condition + params) of a custom KPI,
    or None when its definition names something outside the whitelists."""
    source = SOURCES.get(kpi.source)
    if source is None:
        return None
    weight = source["weight"]
    if kpi.measure == "count":
        numerator = f"SUM({weight})"
    elif kpi.measure.startswith("sum:") and kpi.measure[4:] in source["sums"]:
        column = source["sums"][kpi.measure[4:]]
        numerator = f"SUM({column})" if source.get("credited") else f"SUM({column} * {weight})"
    else:
        return None
    where: list = []
    if kpi.filter_field:
        column = source["filters"].get(kpi.filter_field)
        if column is None:
            return None
        value: object = kpi.filter_value
        if kpi.filter_field == "satisfaction":
            try:
                value = int(kpi.filter_value)
            except ValueError:
                return None
        where = [f"{column} = {{}}", value]
    denominator = "COUNT(*)"
    if kpi.kind == "rate":
        # A custom rate averages the measure per record (e.g. the mean amount of an order).
        denominator = f"SUM({weight})"
    return source["rep"], numerator, denominator, source["from"], source["date"], where


def describe_custom(kpi: KpiDef) -> str:
    source = _(SOURCE_LABELS.get(kpi.source, kpi.source))
    if kpi.measure.startswith("sum:"):
        what = _("Sum of %(field)s over %(source)s", field=_(FIELD_LABELS.get(kpi.measure[4:], kpi.measure[4:])),
                 source=source)
    else:
        what = _("Number of %(source)s", source=source)
    if kpi.filter_field:
        what += " " + _("where %(field)s = %(value)s", field=_(FIELD_LABELS.get(kpi.filter_field, kpi.filter_field)),
                        value=kpi.filter_value)
    return what


def _row_to_def(row: dict) -> KpiDef:
    return KpiDef(**{k: row[k] for k in KpiDef.__dataclass_fields__})


async def kpis(active_only: bool = True) -> list[KpiDef]:
    query = Kpi.select(*[getattr(Kpi, f) for f in KpiDef.__dataclass_fields__])
    if active_only:
        query = query.where(Kpi.active == True)  # noqa: E712 - Piccolo builds SQL from ==; `is True` would not
    return [_row_to_def(r) for r in await query.order_by(Kpi.position).order_by(Kpi.code)]


async def kpi_by_code(code: str) -> KpiDef | None:
    row = await Kpi.select(*[getattr(Kpi, f) for f in KpiDef.__dataclass_fields__]).where(Kpi.code == code).first()
    return _row_to_def(row) if row else None


def value_of(kpi: KpiDef, pair: Pair | None) -> float | None:
    """The KPI's value from its (numerator, denominator); None for a rate with nothing to divide by."""
    if pair is None:
        return 0.0 if kpi.kind == "sum" else None
    numerator, denominator = pair
    if kpi.kind == "sum":
        return numerator
    return numerator / denominator if denominator else None


def total(pairs) -> Pair:
    """Roll up (numerator, denominator) pairs: a team from its reps, the company from everyone."""
    numerator = denominator = 0.0
    for n, d in pairs:
        numerator += n
        denominator += d
    return numerator, denominator


def _parts(kpi: KpiDef):
    if kpi.builtin:
        if kpi.code not in BUILTIN_SQL:
            return None
        rep, num, den, source, day = BUILTIN_SQL[kpi.code]
        extra = BUILTIN_WHERE.get(kpi.code)
        return rep, num, den, source, day, ([extra] if extra else [])
    return custom_sql_parts(kpi)


def _utc_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """A company-time-zone day range as UTC instants [from, to)."""
    tz = clock.company_tz()
    begin = datetime.combine(start, time.min, tz)
    finish = datetime.combine(end + timedelta(days=1), time.min, tz)
    return begin.astimezone(UTC), finish.astimezone(UTC)


def _date_condition(day_column: str, start: date, end: date) -> tuple[str, list]:
    if day_column.startswith("@"):
        begin, finish = _utc_bounds(start, end)
        return f"{day_column[1:]} >= {{}} AND {day_column[1:]} < {{}}", [begin, finish]
    return f"{day_column} BETWEEN {{}} AND {{}}", [start, end]


def _rep_condition(rep_column: str, rep_ids: list[UUID] | None) -> tuple[str, list]:
    """The reps condition of a query, rendered by the one scope type (None: everyone, no condition)."""
    if rep_ids is None:
        return "", []
    params: list = []
    return f" AND {RepScope(tuple(rep_ids)).sql(rep_column, params)}", params


def _team_condition(rep_column: str, day_column: str, team_ids: list[UUID] | None) -> tuple[str, str, list]:
    """(joins, condition, arguments) keeping the records whose rep was in one of `team_ids` on the
    record's own date (`membership.team_on_sql`); None: no condition, no join."""
    if team_ids is None:
        return "", "", []
    joins, team = membership.team_on_sql(rep_column, day_column)
    params: list = []
    return joins, f" AND {membership.team_in_sql(team, team_ids, params)} AND {membership.IS_REP}", params


def _float(value) -> float:
    number = float(value or 0)
    return number if math.isfinite(number) else 0.0


async def actuals(kpi: KpiDef, start: date, end: date, rep_ids: list[UUID] | None = None,
                  team_ids: list[UUID] | None = None) -> dict[UUID, Pair]:
    """rep id -> (numerator, denominator) of `kpi` from `start` to `end` (both included), for the reps in
    `rep_ids` (None: everyone) and, when `team_ids` is given, only the records dated while their rep was
    in one of those teams. One grouped query."""
    parts = _parts(kpi)
    if parts is None or rep_ids == []:
        return {}
    rep, num, den, source, day, extra = parts
    condition, params = _date_condition(day, start, end)
    reps_sql, rep_params = _rep_condition(rep, rep_ids)
    joins, teams_sql, team_params = _team_condition(rep, day, team_ids)
    extra_sql, extra_params = _extra(extra)
    sql = (f"SELECT {rep} AS rep, {num} AS num, {den} AS den FROM {source}{joins}"
           f" WHERE {condition}{reps_sql}{teams_sql}{extra_sql} GROUP BY {rep}")
    rows = await Kpi.raw(sql, *params, *rep_params, *team_params, *extra_params)
    return {rid: (_float(r["num"]), _float(r["den"])) for r in rows if (rid := as_uuid(r["rep"])) is not None}


TeamRep = tuple[UUID | None, UUID]  # (the team a record is attributed to, None: no team; the rep)


async def actuals_many(kpis: list[KpiDef], start: date, end: date,
                       rep_ids: list[UUID] | None = None) -> dict[str, dict[UUID, Pair]]:
    """`actuals()` of several KPIs at once: KPIs that read the same rows (revenue, gross margin and
    margin % all read the period's order splits; visits and satisfaction the period's visits) share one
    grouped query with a numerator and denominator column each, and the queries run concurrently on
    their own connections when no transaction holds this task to one."""
    found = await _grouped(kpis, start, end, rep_ids, None, by_team=False)
    return {code: {key[1]: pair for key, pair in pairs.items()} for code, pairs in found.items()}


async def team_actuals_many(kpis: list[KpiDef], start: date, end: date,
                            team_ids: list[UUID] | None = None) -> dict[str, dict[TeamRep, Pair]]:
    """`actuals_many()` grouped by (team, rep), each record attributed to the team its rep belonged to on
    the record's date (`membership.team_on_sql`), for the teams in `team_ids` (None: every team and no
    team). A rep moved in July adds January's orders to the old team and August's to the new one."""
    return await _grouped(kpis, start, end, None, team_ids, by_team=True)


async def _grouped(kpis: list[KpiDef], start: date, end: date, rep_ids: list[UUID] | None,
                   team_ids: list[UUID] | None, *, by_team: bool) -> dict[str, dict[TeamRep, Pair]]:
    out: dict[str, dict[TeamRep, Pair]] = {k.code: {} for k in kpis}
    if rep_ids == [] or team_ids == []:
        return out
    groups: dict[tuple, list] = {}
    for kpi in kpis:
        parts = _parts(kpi)
        if parts is None:
            continue
        rep, num, den, source, day, extra = parts
        groups.setdefault((rep, source, day, tuple(str(e) for e in extra)), []).append((kpi, num, den, extra))

    async def one(key: tuple, members: list) -> None:
        rep, source, day, _extra_key = key
        condition, params = _date_condition(day, start, end)
        reps_sql, rep_params = _rep_condition(rep, rep_ids)
        joins, teams_sql, team_params = "", "", list[UUID]()
        team = "NULL"
        if by_team:
            joins, team = membership.team_on_sql(rep, day)
            if team_ids is not None:
                teams_sql = f" AND {membership.team_in_sql(team, team_ids, team_params)}"
        extra_sql, extra_params = _extra(members[0][3])
        columns = ", ".join(f"{num} AS n{i}, {den} AS d{i}" for i, (_k, num, den, _e) in enumerate(members))
        sql = (f"SELECT {team} AS team, {rep} AS rep, {columns} FROM {source}{joins}"
               f" WHERE {condition}{reps_sql}{teams_sql}{extra_sql} GROUP BY {team + ', ' if by_team else ''}{rep}")
        for row in await Kpi.raw(sql, *params, *rep_params, *team_params, *extra_params):
            rid = as_uuid(row["rep"])
            if rid is None:  # pragma: no cover - every source's rep column is NOT NULL
                continue
            for i, (kpi, _num, _den, _e) in enumerate(members):
                out[kpi.code][(as_uuid(row["team"]), rid)] = (_float(row[f"n{i}"]), _float(row[f"d{i}"]))

    jobs = [one(key, members) for key, members in groups.items()]
    if Kpi._meta.db.current_transaction.get() is None:
        await asyncio.gather(*jobs)
    else:
        for job in jobs:
            await job
    return out


def _extra(extra: list) -> tuple[str, list]:
    if not extra:
        return "", []
    if len(extra) == 1:
        return f" AND {extra[0]}", []
    return f" AND {extra[0]}", list(extra[1:])



def _month_expr(column: str) -> str:
    return db.month_of(column)


async def by_month(kpi: KpiDef, start: date, end: date, rep_ids: list[UUID] | None = None,
                   per_rep: bool = False, team_ids: list[UUID] | None = None) -> dict[tuple[UUID | None, str], Pair]:
    """(rep id or None, "YYYY-MM") -> (numerator, denominator), grouped by month in SQL (per rep only when
    `per_rep`); with `team_ids`, only records dated while their rep was in one of those teams. KPIs dated
    by a timestamp (new customers) group by company-time-zone month with one range query per month."""
    parts = _parts(kpi)
    if parts is None or rep_ids == [] or team_ids == []:
        return {}
    rep, num, den, source, day, extra = parts
    if day.startswith("@"):
        out: dict[tuple[UUID | None, str], Pair] = {}
        cursor = date(start.year, start.month, 1)
        while cursor <= end:
            month_end = (date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1) - timedelta(days=1))
            found = await actuals(kpi, max(cursor, start), min(month_end, end), rep_ids, team_ids)
            key = f"{cursor.year:04d}-{cursor.month:02d}"
            if per_rep:
                out.update({(r, key): pair for r, pair in found.items()})
            elif found:
                out[(None, key)] = total(found.values())
            cursor = month_end + timedelta(days=1)
        return out
    condition, params = _date_condition(day, start, end)
    reps_sql, rep_params = _rep_condition(rep, rep_ids)
    joins, teams_sql, team_params = _team_condition(rep, day, team_ids)
    extra_sql, extra_params = _extra(extra)
    month = _month_expr(day)
    group = f"{rep}, {month}" if per_rep else month
    select_rep = f"{rep} AS rep, " if per_rep else ""
    sql = (f"SELECT {select_rep}{month} AS month, {num} AS num, {den} AS den FROM {source}{joins}"
           f" WHERE {condition}{reps_sql}{teams_sql}{extra_sql} GROUP BY {group}")
    rows = await Kpi.raw(sql, *params, *rep_params, *team_params, *extra_params)
    return {(as_uuid(r["rep"]) if per_rep else None, r["month"]): (_float(r["num"]), _float(r["den"])) for r in rows}


# --- The records behind a number ---------------------------------------------------------------

RECORD_SQL = {
    # kind of record, SELECT list (id, day, rep, customer name, amount or detail, share), FROM, date column
    # The rows of revenue and margin: each credited split row and each return's (negative) split row;
    # credit_amount / credit_margin are the stored cents the row adds to the rep's number.
    "orders": ("x.id AS id, x.ref AS ref, x.day AS day, x.rep AS rep, x.customer AS customer, x.amount AS amount,"
               " x.margin AS margin, x.share_bp AS share_bp, x.credit_amount AS credit_amount,"
               " x.credit_margin AS credit_margin, x.record_kind AS record_kind",
               "(SELECT o.id AS id, o.number AS ref, s.order_date AS day, s.rep AS rep, cu.name AS customer,"
               " o.amount_cents / 100.0 AS amount, (o.amount_cents - o.cost_cents) / 100.0 AS margin,"
               " s.share_bp AS share_bp, s.amount_cents AS credit_amount, s.margin_cents AS credit_margin,"
               " 'order' AS record_kind FROM order_split s JOIN sales_order o ON o.id = s.sales_order"
               " JOIN customer cu ON cu.id = o.customer WHERE o.voided_at IS NULL"
               " UNION ALL SELECT o.id, rt.number, r.return_date, r.rep, cu.name, -rt.amount_cents / 100.0,"
               " -rt.margin_cents / 100.0, r.share_bp, r.amount_cents, r.margin_cents, rt.kind"
               " FROM order_return_split r JOIN order_return rt ON rt.id = r.order_return"
               " JOIN sales_order o ON o.id = r.sales_order JOIN customer cu ON cu.id = o.customer"
               " WHERE o.voided_at IS NULL) x",
               "x.rep", "x.day", "x.day DESC, x.ref"),
    # A custom KPI over orders: the order split rows alone.
    "order_rows": ("o.id AS id, o.number AS ref, s.order_date AS day, s.rep AS rep, cu.name AS customer,"
                   " o.amount_cents / 100.0 AS amount, (o.amount_cents - o.cost_cents) / 100.0 AS margin,"
                   " s.share_bp AS share_bp, s.amount_cents AS credit_amount, s.margin_cents AS credit_margin,"
                   " 'order' AS record_kind",
                   f"{LIVE_ORDER_SPLITS} JOIN customer cu ON cu.id = o.customer",
                   "s.rep", "s.order_date", "s.order_date DESC, o.number"),
    "collections": ("c.id AS id, c.number AS ref, k.received_on AS day, k.rep AS rep, cu.name AS customer,"
                    " c.amount_cents / 100.0 AS amount, NULL AS margin, COALESCE(s.share_bp, 0) AS share_bp,"
                    " k.amount_cents AS credit_amount, NULL AS credit_margin, c.kind AS record_kind",
                    "collection_split k JOIN collection c ON c.id = k.collection"
                    " LEFT JOIN order_split s ON s.sales_order = k.sales_order AND s.rep = k.rep"
                    " JOIN sales_order o ON o.id = k.sales_order AND o.voided_at IS NULL"
                    " JOIN customer cu ON cu.id = o.customer",
                    "k.rep", "k.received_on", "k.received_on DESC, c.number"),
    "visits": ("v.id AS id, v.purpose AS ref, v.visit_date AS day, v.rep AS rep, cu.name AS customer,"
               " v.satisfaction AS amount, NULL AS margin, 10000 AS share_bp",
               "visit v JOIN customer cu ON cu.id = v.customer", "v.rep", "v.visit_date",
               "v.visit_date DESC, v.checkin_at DESC"),
    "customers": ("c.id AS id, c.code AS ref, c.created_at AS day, c.owner AS rep, c.name AS customer,"
                  " NULL AS amount, NULL AS margin, 10000 AS share_bp",
                  "customer c", "c.owner", "@c.created_at", "c.created_at DESC"),
    "opportunities": ("p.id AS id, p.name AS ref, p.closed_on AS day, p.owner AS rep, cu.name AS customer,"
                      " p.amount_cents / 100.0 AS amount, p.stage AS margin, 10000 AS share_bp",
                      "opportunity p JOIN customer cu ON cu.id = p.customer", "p.owner", "p.closed_on",
                      "p.closed_on DESC"),
}
BUILTIN_RECORDS = {
    "revenue": ("orders", None), "gross_margin": ("orders", None), "gross_margin_pct": ("orders", None),
    "collections": ("collections", None), "visits": ("visits", None), "new_customers": ("customers", None),
    "conversion_rate": ("opportunities", "p.stage IN ('won', 'lost')"),
    "satisfaction": ("visits", "v.satisfaction IS NOT NULL"),
}


async def records(kpi: KpiDef, start: date, end: date, rep_ids: list[UUID] | None, limit: int = 200,
                  team_ids: list[UUID] | None = None) -> list[dict]:
    """The rows a KPI's number for these reps and dates came from, newest first (at most `limit`); with
    `team_ids`, only those dated while their rep was in one of those teams.
    Each row: id, ref, day, rep, customer, amount, margin, share_bp (the rep's share of a shared order:
    a shared order is one row per rep) and credited (the amount or margin times the share, for money KPIs)."""
    if rep_ids == [] or team_ids == []:
        return []
    if kpi.builtin:
        kind, extra = BUILTIN_RECORDS.get(kpi.code, (None, None))
        extra_params: list = []
        extra_sql = f" AND {extra}" if extra else ""
    else:
        kind = kpi.source
        extra_sql, extra_params = "", []
        parts = custom_sql_parts(kpi)
        if parts and parts[5]:
            extra_sql, extra_params = f" AND {parts[5][0]}", list(parts[5][1:])
        if kind == "opportunities":
            kind = "opportunities_created"
        elif kind == "orders":
            kind = "order_rows"
    if kind == "opportunities_created":
        select, source, rep, _day, order = RECORD_SQL["opportunities"]
        day, order = "@p.created_at", "p.created_at DESC"
    elif kind in RECORD_SQL:
        select, source, rep, day, order = RECORD_SQL[kind]
    else:
        return []
    condition, params = _date_condition(day, start, end)
    reps_sql, rep_params = _rep_condition(rep, rep_ids)
    joins, teams_sql, team_params = _team_condition(rep, day, team_ids)
    sql = (f"SELECT {select} FROM {source}{joins} WHERE {condition}{reps_sql}{teams_sql}{extra_sql}"
           f" ORDER BY {order} LIMIT {int(limit)}")
    rows = await Kpi.raw(sql, *params, *rep_params, *team_params, *extra_params)
    credit = CREDITED.get(kpi.code) if kpi.builtin else CUSTOM_CREDITED.get(kpi.measure) if kind in (
        "order_rows", "collections") else None
    for row in rows:
        row["part"] = record_part(kpi, row)
        row["rep"] = as_uuid(row["rep"])
        row["id"] = as_uuid(row["id"])
        # What this row adds to the rep's number: the cents stored on the credited row (a shared order's
        # share, a return's negative share), so the credited column of a team's rows adds up to its actual.
        value = row.get(credit) if credit else None
        row["credited"] = int(value) / 100 if isinstance(value, (int, float, Decimal)) else None
        row["credited_cents"] = int(value) if isinstance(value, (int, float, Decimal)) else None
    return rows


# Which part of a rate a record counts in: "numerator" (the numerator and the denominator: a won deal),
# "denominator" (the denominator alone: a lost deal). A rate whose every record adds to both sums (margin %,
# satisfaction) marks each "numerator" too; sum KPIs have no parts (None).
NUMERATOR, DENOMINATOR = "numerator", "denominator"


def record_part(kpi: KpiDef, row: dict) -> str | None:
    """The part of `kpi`'s rate a drill-down row counts in, or None for a sum KPI."""
    if kpi.kind != "rate":
        return None
    if kpi.builtin and kpi.code == "conversion_rate":
        return NUMERATOR if row.get("margin") == "won" else DENOMINATOR  # the record's stage
    return NUMERATOR


CREDITED = {"revenue": "credit_amount", "collections": "credit_amount", "gross_margin": "credit_margin",
            "gross_margin_pct": "credit_margin"}
CUSTOM_CREDITED = {"sum:amount": "credit_amount", "sum:margin": "credit_margin"}
