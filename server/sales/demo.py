"""Demo data for the sales domain: opportunities through the funnel, orders (some shared between two
reps), their costs and collections. Called by server/demo.py's generator, which owns the writer and the
story (who is ahead, who behind)."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import TYPE_CHECKING
from uuid import UUID

from server.sales.credits import collection_rows, split_rows
from server.sales.tables import FULL_SHARE, Collection, CollectionSplit, Opportunity, OpportunityStage, Order, OrderSplit
from server.targets import formulas

if TYPE_CHECKING:
    from server.demo import Ids, Stats, Writer

PRODUCTS = ["数控机床", "自动化产线", "检测设备", "工业软件", "备件", "维保服务", "传感器", "控制系统"]
DEALS = ["采购", "升级", "扩产", "替换", "试点"]
SHARED = 0.10  # orders shared between two reps of a team
# Stage funnel: (stage, probability of moving on, mean days in the stage).
FUNNEL = [("lead", 0.8, 4.0), ("qualified", 0.75, 8.0), ("proposal", 0.8, 12.0), ("negotiation", 0.7, 10.0)]
AVERAGE_MONTH = 175_000  # yuan: an average rep's monthly revenue at these rates


def opportunity(w: Writer, rng: random.Random, new_id: Ids, stats: Stats, rep: UUID, customer: UUID,
                 midnight: datetime, now: datetime, tz) -> tuple | None:
    """One opportunity and its stage history; returns the order of a won deal (day, customer, amount, id)."""
    oid = new_id()
    created = midnight + timedelta(hours=rng.randint(9, 17), minutes=rng.randint(0, 59))
    amount = round(rng.lognormvariate(math.log(40_000), 0.6))
    w.add(OpportunityStage, {"id": new_id(), "opportunity": oid, "from_stage": "", "to_stage": "lead",
                             "changed_at": created, "changed_by": rep})
    stage, moment, closed_on = "lead", created, None
    for step, (_name, onward, mean_days) in enumerate(FUNNEL):
        nxt = moment + timedelta(days=0.5 + rng.expovariate(1 / mean_days))
        if nxt > now:
            break  # still open in this stage
        if rng.random() < onward:
            to = FUNNEL[step + 1][0] if step + 1 < len(FUNNEL) else "won"
        else:
            to = "lost"
        w.add(OpportunityStage, {"id": new_id(), "opportunity": oid, "from_stage": stage, "to_stage": to,
                                 "changed_at": nxt, "changed_by": rep})
        stage, moment = to, nxt
        if to in ("won", "lost"):
            closed_on = nxt.astimezone(tz).date()
            if stats.inside(closed_on):
                stats.closed += 1
                stats.won += to == "won"
            break
    name = f"{rng.choice(PRODUCTS)}{rng.choice(DEALS)}项目"
    w.add(Opportunity, {"id": oid, "name": name, "customer": customer, "owner": rep, "stage": stage,
                        "amount_cents": amount * 100,
                        "expected_close": (created + timedelta(days=rng.randint(30, 120))).astimezone(tz).date(),
                        "stage_changed_at": moment, "closed_on": closed_on, "created_by": rep,
                        "created_at": created, "updated_at": moment})
    if stage == "won":
        return closed_on, customer, round(amount * rng.uniform(0.9, 1.05)), oid
    return None


def budget_orders(rng: random.Random, customer_on, working: list, won: list, level,
                   growing: bool = False) -> list[tuple]:
    """Repeat orders that bring each month's revenue (won deals included) to a budget: the average rep's
    month x `level(month, t)`; with `growing`, at least 6 % above the month before. The partial first and
    current months get their working days' share."""
    months: dict[tuple[int, int], list] = {}
    for entry in working:
        months.setdefault((entry[0].year, entry[0].month), []).append(entry)
    won_by_month: dict[tuple[int, int], int] = {}
    for day, _c, amount, _o in won:
        won_by_month[(day.year, day.month)] = won_by_month.get((day.year, day.month), 0) + amount
    out, previous = [], 0.0
    keys = sorted(months)
    for k, key in enumerate(keys):
        year, month = key
        share = len(months[key]) / max(1, formulas.working_days(date(year, month, 1), formulas.month_end(year, month)))
        budget = AVERAGE_MONTH * level(month, k / max(1, len(keys) - 1))
        if growing:
            budget = max(budget, previous * 1.06, won_by_month.get(key, 0) * 1.02)
        fill = max(0.0, budget * share - won_by_month.get(key, 0))
        n = max(1, round(fill / 14_000))
        for part in formulas.split(round(fill), [rng.uniform(0.6, 1.4) for _ in range(n)], 0):
            day = rng.choice(months[key])[0]
            c = customer_on(day)
            if c is not None and part > 0:
                out.append((day, c[2], int(part), None))
        if share >= 0.99:
            previous = won_by_month.get(key, 0) + fill
    return out


def order(w: Writer, rng: random.Random, new_id: Ids, stats: Stats, seq: dict, index: int, rep_ids: list,
           partners: list[int], day: date, customer: UUID, amount: int, opportunity: UUID | None,
           margin: float, today: date, tz) -> None:
    """An order, its split (10 % shared 60/40 or 50/50 with a teammate), its cost and its collections."""
    oid = new_id()
    seq["order"] += 1
    amount_cents = max(100, amount * 100)
    m = min(0.45, max(0.20, rng.gauss(margin, 0.05)))
    cost_cents = round(amount_cents * (1 - m))
    due = day + timedelta(days=30 if rng.random() < 0.7 else 60)
    created = datetime.combine(day, dtime(rng.randint(9, 18), rng.randint(0, 59)), tz).astimezone(UTC)
    rep = rep_ids[index]
    w.add(Order, {"id": oid, "number": f"SO{seq['order']:08d}", "customer": customer, "opportunity": opportunity,
                  "order_date": day, "due_date": due, "amount_cents": amount_cents, "cost_cents": cost_cents,
                  "note": "", "source": "import" if rng.random() < 0.3 else "manual", "created_by": rep,
                  "created_at": created, "updated_at": created})
    if partners and rng.random() < SHARED:
        mine = 6000 if rng.random() < 0.6 else 5000
        shares = [(index, mine), (rng.choice(partners), FULL_SHARE - mine)]
    else:
        shares = [(index, FULL_SHARE)]
    credited = {row["rep"]: row for row in split_rows(oid, day, amount_cents, cost_cents,
                                                      [(rep_ids[who], bp) for who, bp in shares])}
    for who, _bp in shares:
        row = credited[rep_ids[who]]
        w.add(OrderSplit, {**row, "id": new_id()})
        stats.add("revenue", who, day, row["amount_cents"] / 100)
        stats.add("gross_margin", who, day, row["margin_cents"] / 100)

    # Collections: most on time, some late, some in two parts (the rest sometimes never), a few never.
    roll = rng.random()
    if roll < 0.70:
        payments = [(due + timedelta(days=rng.randint(-15, 3)), amount_cents)]
    elif roll < 0.86:
        payments = [(due + timedelta(days=rng.randint(5, 75)), amount_cents)]
    elif roll < 0.95:
        part = round(amount_cents * rng.uniform(0.3, 0.7))
        payments = [(due + timedelta(days=rng.randint(-5, 10)), part)]
        if rng.random() < 0.5:
            payments.append((due + timedelta(days=rng.randint(20, 120)), amount_cents - part))
    else:
        payments = []  # overdue (or not yet due): the ageing report's long tail
    for paid_on, cents in payments:
        paid_on = max(paid_on, day)
        if paid_on > today:
            continue
        seq["receipt"] += 1
        at = datetime.combine(paid_on, dtime(15), tz).astimezone(UTC)
        cid = new_id()
        w.add(Collection, {"id": cid, "number": f"RC{seq['receipt']:08d}", "sales_order": oid,
                           "received_on": paid_on, "amount_cents": cents, "source": "manual", "created_by": rep,
                           "created_at": at})
        received = {row["rep"]: row for row in collection_rows(cid, oid, paid_on, cents,
                                                                [(rep_ids[who], bp) for who, bp in shares])}
        for who, _bp in shares:
            w.add(CollectionSplit, {**received[rep_ids[who]], "id": new_id()})
            stats.add("collections", who, paid_on, received[rep_ids[who]]["amount_cents"] / 100)
