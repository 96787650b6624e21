"""Demo data that shows the product off: teams, managers, reps, customers, visits, reports, opportunities,
orders (some shared between two reps), collections and an approved target plan for the current year.

The generator takes a scale (reps, days, team size) and writes set-based, through `server.db.insert_rows`
in chunks, so it also makes the large data sets the benchmarks need (1,000 reps x 365 days: about a
million visits and a hundred thousand orders). Everything comes from one seeded RNG, ids included, so the
same seed and company day give the same data.

The story the dashboards tell (see docs): rep1 is clearly ahead, rep2 clearly behind, rep3 started the
year behind and improves month over month (their revenue grows every month); the others spread around
the plan. The plan's company year targets are the last twelve months' actuals x 1.1, spread over the
months by those months' seasonality, and split to teams and reps by the manager's assessment of each rep.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from uuid import UUID, SafeUUID

from server import clock, db
from server.accounts.services import hash_password
from server.accounts.tables import Team, TeamManager, User
from server.customers.tables import Customer
from server.reports.tables import Report, ReportEvent
from server.sales import demo as sales_demo
from server.sales.tables import Collection, CollectionSplit, Opportunity, OpportunityStage, Order, OrderSplit
from server.syncing.tables import SyncCounter
from server.targets import demo as targets_demo
from server.targets.tables import Target, TargetPlan
from server.visits.tables import PURPOSES, Visit

DEMO_PASSWORD = "fieldpace-demo"

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "强", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平", "刚", "桂英", "晨", "欣怡", "子涵", "浩然", "宇轩", "雨桐"]
CITIES = ["上海", "苏州", "杭州", "南京", "无锡", "宁波", "北京", "天津", "石家庄", "济南", "青岛", "合肥"]
TRADES = ["恒源", "华泰", "宏达", "鑫盛", "永兴", "嘉禾", "瑞丰", "东方", "金桥", "天成", "博远", "新力", "长江", "中科", "荣发", "佳和"]
KINDS = ["机械", "电子", "化工", "医疗器械", "食品", "建材", "物流", "纺织", "汽配", "环保科技"]
OUTCOMES = [
    "客户对新产品很感兴趣,约定下周演示。", "拜访采购负责人,确认了年度需求量。", "客户反馈价格偏高,需要申请特价。",
    "完成产品演示,技术部门认可。", "催收上月货款,客户承诺月底前付清。", "处理售后问题,设备已恢复运行。",
    "初次拜访,了解客户组织架构和决策流程。", "谈判合同条款,付款方式待定。", "客户暂无需求,保持联系。",
]
NEXT_STEPS = ["发送报价单", "安排技术演示", "跟进合同审批", "寄送样品", "提交特价申请", "电话回访"]
RESULTS = ["签订订单一笔。", "获得两条新线索。", "客户同意试用。", "回款到账。", ""]
PROBLEMS = ["", "", "竞品降价,需要支持。", "样品库存不足。", "客户要求更长账期。"]
PLANS = ["继续跟进重点客户,安排两次拜访。", "准备演示材料,拜访新客户。", "催收回款,整理报价。"]
RETURN_COMMENTS = ["请补充客户的具体需求和预算。", "结果部分写得太笼统,请写清楚金额。", "明天的计划请具体到客户。"]
TEAM_NAMES = ["华东销售一部", "华北销售二部"]
MANAGER_NAMES = ["陈经理", "林经理"]

# Order volume by calendar month (Spring Festival in February, Golden Week in October, a year-end push).
SEASON = [0.95, 0.62, 1.05, 1.0, 1.02, 1.12, 0.92, 0.9, 1.05, 0.85, 1.12, 1.3]
GROWTH = 0.12  # the company grows ~12 % across the span
ORDERS_PER_DAY = 0.29  # repeat business of an average rep per working day (~80 a year) ...
OPPS_PER_DAY = 0.25  # ... plus ~65 opportunities a year, about a third of the closed ones won (~20 orders)
CHUNK_ROWS = 60_000  # pending rows that trigger a flush (one transaction, set-based inserts)
STAR, LAGGARD, IMPROVER = 0, 1, 2  # rep1 ahead, rep2 behind, rep3 improving


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def company_name(rng: random.Random) -> str:
    return f"{rng.choice(CITIES)}{rng.choice(TRADES)}{rng.choice(KINDS)}有限公司"


class Writer:
    """Collects rows per table and writes them set-based (`db.insert_rows`), parents first, one
    transaction per flush, reporting rows/s. Missing columns get the table's defaults."""

    ORDER = (Team, User, TeamManager, Customer, Visit, Report, ReportEvent, Opportunity, OpportunityStage,
             Order, OrderSplit, Collection, CollectionSplit, TargetPlan, Target)

    def __init__(self, out=sys.stdout):
        self.out = out
        self.task: asyncio.Task | None = None
        self.pending: dict[type, list[dict]] = {t: [] for t in self.ORDER}
        self.fill: dict[type, dict] = {}
        self.size = 0
        self.written = 0
        self.reported = 0
        self.last_report = self.started = time.monotonic()
        self.counts: dict[str, int] = {}

    def add(self, table, row: dict) -> None:
        fill = self.fill.get(table)
        if fill is None:
            defaults = {c._meta.db_column_name: c.get_default_value() for c in table._meta.columns}
            fill = self.fill[table] = {k: v for k, v in defaults.items() if k not in row}
        if fill:
            row = {**fill, **row}
        self.pending[table].append(row)
        self.size += 1

    async def flush_if_full(self) -> None:
        if self.size >= CHUNK_ROWS:
            await self.flush(wait=False)
        else:
            await asyncio.sleep(0)  # let a batch being written move on

    async def flush(self, wait: bool = True) -> None:
        """Write what is pending, in the background unless `wait`: the next rows are made while the
        database (SQLite's thread, PostgreSQL's process) stores these. Batches are written one after
        another, so parents are always committed before their children."""
        await self.drain()
        if self.size:
            batch, size = self.pending, self.size
            self.pending, self.size = {t: [] for t in self.ORDER}, 0
            self.task = asyncio.ensure_future(self._write(batch, size))
        if wait:
            await self.drain()

    async def drain(self) -> None:
        if self.task is not None:
            task, self.task = self.task, None
            await task

    async def _write(self, batch: dict, size: int) -> None:
        async with db.write_transaction() as transaction:
            await db.bulk_load(transaction)
            for table in self.ORDER:
                rows = batch[table]
                if rows:
                    await db.insert_rows(table, rows)
                    name = table._meta.tablename
                    self.counts[name] = self.counts.get(name, 0) + len(rows)
        self.written += size
        moment = time.monotonic()
        if self.out and self.written - self.reported >= 10_000 and moment - self.last_report >= 1.0:
            self.reported, self.last_report = self.written, moment
            print(f"  {self.written:,} rows written ({self.rate():,.0f} rows/s)", file=self.out, flush=True)

    def rate(self) -> float:
        return self.written / max(time.monotonic() - self.started, 1e-6)


# Evaluations (rated, scored, published) are made for small demo companies only: they are a walkthrough,
# and the large benchmark companies make their own.
DEMO_EVALUATION_MAX_REPS = 50


async def is_empty() -> bool:
    return not await User.exists()


class FastRandom(random.Random):
    """random.Random with quicker randint, randrange(n) and choice, made from random(): as deterministic
    for a seed, a few times faster (the generator draws millions of them)."""

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def randrange(self, n: int) -> int:  # type: ignore[override]  # only the one-argument form is used
        return int(self.random() * n)

    def choice(self, seq):
        return seq[int(self.random() * len(seq))]


_VERSION_MASK = ~((0xC000 << 48) | (0xF000 << 64)) & ((1 << 128) - 1)
_VERSION_BITS = (0x8000 << 48) | (4 << 76)


class Ids:
    """Deterministic version-4 UUIDs from the seeded RNG (uuid4() would differ between runs), built
    without UUID.__init__'s checks (the bits are set as UUID(int=..., version=4) sets them)."""

    def __init__(self, rng: random.Random):
        self.bits = rng.getrandbits

    def __call__(self) -> UUID:
        u = object.__new__(UUID)
        object.__setattr__(u, "int", (self.bits(128) & _VERSION_MASK) | _VERSION_BITS)
        object.__setattr__(u, "is_safe", SafeUUID.unknown)
        return u


class Stats:
    """The last twelve months' actuals, per rep and calendar month, kept while generating: the plan's
    targets are built from them (the generator knows every row it wrote; no query needed)."""

    SUMS = ("revenue", "gross_margin", "collections", "visits", "new_customers")

    def __init__(self, reps: int, window_start: date, today: date):
        self.start, self.today = window_start, today
        self.sums = {k: [[0.0] * 12 for _ in range(reps)] for k in self.SUMS}
        self.won = self.closed = 0
        self.sat_sum = self.sat_count = 0

    def inside(self, day: date) -> bool:
        return self.start <= day <= self.today

    def add(self, kpi: str, rep: int, day: date, value: float) -> None:
        if self.start <= day <= self.today:
            self.sums[kpi][rep][day.month - 1] += value


async def generate(reps: int = 8, days: int = 365, customers_per_rep: int = 40, seed: int = 7,
                   team_size: int | None = None, out=sys.stdout) -> dict:
    """Write a demo company: admin, teams with a manager each (two teams, or teams of `team_size` reps),
    `reps` reps, `days` days of history up to today, and an approved target plan for the current year."""
    rng = FastRandom(seed)
    new_id = Ids(rng)
    now = clock.now()
    today = clock.today()
    tz = clock.company_tz()
    days = max(1, days)
    pw = hash_password(DEMO_PASSWORD)  # one hash for everyone: hashing is deliberately slow
    w = Writer(out=out)
    if out:
        print(f"Generating demo data: {reps} reps, {days} days"
              f"{f', teams of {team_size}' if team_size else ''}…", file=out, flush=True)

    # --- Organisation ----------------------------------------------------------------------------------
    team_count = 2 if not team_size else max(1, math.ceil(reps / max(1, team_size)))
    teams = []
    for i in range(team_count):
        name = TEAM_NAMES[i] if i < len(TEAM_NAMES) else f"{CITIES[i % len(CITIES)]}销售{i + 1}部"
        teams.append(new_id())
        w.add(Team, {"id": teams[-1], "name": name, "created_at": now})

    def user(username: str, name: str, role: str, team: UUID | None) -> UUID:
        uid = new_id()
        w.add(User, {"id": uid, "username": username, "display_name": name, "password_hash": pw, "role": role,
                     "team": team, "active": True, "locale": "", "created_at": now, "session_epoch": 0})
        return uid

    admin = user("admin", "系统管理员", "admin", None)
    managers = []
    for i, team in enumerate(teams):
        name = MANAGER_NAMES[i] if i < len(MANAGER_NAMES) else rng.choice(SURNAMES) + "经理"
        managers.append(user(f"manager{i + 1}", name, "manager", team))
        w.add(TeamManager, {"id": new_id(), "team": team, "manager": managers[-1]})
    rep_team = [i % team_count for i in range(reps)]
    rep_ids = [user(f"rep{i + 1}", person_name(rng), "rep", teams[rep_team[i]]) for i in range(reps)]
    members: list[list[int]] = [[] for _ in teams]
    for i, team_index in enumerate(rep_team):
        members[team_index].append(i)

    # --- Who each rep is: the dashboards' story ------------------------------------------------------
    ability, energy, margin, satisfaction = [], [], [], []
    for i in range(reps):
        a = {STAR: 1.9, LAGGARD: 0.55, IMPROVER: 1.0}.get(i) or min(1.7, max(0.5, math.exp(rng.gauss(0, 0.28))))
        ability.append(a)
        energy.append(min(1.5, max(0.5, 0.5 + 0.5 * a + rng.gauss(0, 0.12))))
        margin.append(rng.uniform(0.27, 0.38))
        satisfaction.append([None, 4, 4, 5, 5, 5] if a > 1.2 else
                            [None, 2, 3, 3, 4, 4, 5] if a < 0.8 else [None, 3, 4, 4, 5, 5])

    # --- The span, day by day ------------------------------------------------------------------------
    first_day = today - timedelta(days=days - 1)
    span = []
    for n in range(days):
        day = first_day + timedelta(days=n)
        midnight = datetime.combine(day, dtime(0), tz).astimezone(UTC)
        t = n / max(1, days - 1)
        span.append((day, day.weekday() < 5, midnight, t, SEASON[day.month - 1] * (1 + GROWTH * (t - 0.5))))
    working = [s for s in span if s[1]]
    stats = Stats(reps, max(first_day, today - timedelta(days=364)), today)
    seq = {"sync": 0, "order": 0, "receipt": 0, "customer": 0}
    counts = {"users": 1 + len(managers) + reps, "teams": team_count}

    await w.flush()
    for index in range(reps):
        _rep(w, rng, new_id, stats, seq, index, rep_ids, managers[rep_team[index]], members[rep_team[index]],
             ability, energy[index], margin[index], satisfaction[index], span, working, customers_per_rep,
             today, now, tz)
        await w.flush_if_full()
    await w.flush()

    await targets_demo.plan(w, new_id, stats, admin, teams, members, rep_ids, ability, energy, today, days,
                            season=SEASON, improver=IMPROVER)
    await w.flush()
    if reps <= DEMO_EVALUATION_MAX_REPS:
        from server.evaluation import demo as evaluation_demo

        counts["evaluation_cycles"] = await evaluation_demo.cycles(
            teams, managers, [[rep_ids[i] for i in m] for m in members], dict(zip(rep_ids, ability, strict=True)),
            today, seed)
    await SyncCounter.update({SyncCounter.value: seq["sync"]}).where(SyncCounter.id == 1)
    counts.update({k: v for k, v in w.counts.items() if k not in ("team", "app_user", "team_manager")})
    counts["rows"] = w.written
    counts["seconds"] = round(time.monotonic() - w.started, 1)
    if out:
        print(f"Done: {counts['users']} users in {team_count} teams, {w.counts.get('customer', 0):,} customers, "
              f"{w.counts.get('visit', 0):,} visits, {w.counts.get('report', 0):,} daily reports, "
              f"{w.counts.get('opportunity', 0):,} opportunities, {w.counts.get('sales_order', 0):,} orders "
              f"({w.counts.get('order_split', 0):,} splits), {w.counts.get('collection', 0):,} collections, "
              f"{w.counts.get('kpi_target', 0):,} target cells: {w.written:,} rows in {counts['seconds']:.1f} s "
              f"({w.rate():,.0f} rows/s).", file=out, flush=True)
    return counts


def _rep(w: Writer, rng: random.Random, new_id: Ids, stats: Stats, seq: dict, index: int, rep_ids: list,
         manager: UUID, team: list[int], ability: list[float], energy: float, margin: float,
         satisfaction: list, span: list, working: list, customers_per_rep: int, today: date, now: datetime,
         tz) -> None:
    """One rep's year: customers, visits and daily reports, opportunities, orders, collections."""
    rep = rep_ids[index]
    improver = index == IMPROVER
    first_day = span[0][0]
    a0 = ability[index]

    def drive(t: float) -> float:  # the rep's form at fraction t of the span
        return 0.4 + 1.4 * t if improver else a0

    # Customers: most were won before the span; about a quarter are new during it (new customers KPI).
    customers = []
    for _ in range(customers_per_rep):
        if rng.random() < 0.25 and working:
            day, _w, midnight, _t, _s = rng.choice(working)
            created = midnight + timedelta(hours=rng.randint(1, 9), minutes=rng.randint(0, 59))
        else:
            day = first_day - timedelta(days=rng.randint(20, 900))
            created = datetime.combine(day, dtime(10), tz).astimezone(UTC)
        seq["customer"] += 1
        customers.append((day, seq["customer"], new_id(), created, company_name(rng)))
    customers.sort()
    for day, number, cid, created, name in customers:
        seq["sync"] += 1
        w.add(Customer, {"id": cid, "name": name, "contact_name": person_name(rng),
                         "phone": f"1{rng.randint(30, 99)}{rng.randint(10000000, 99999999)}", "address": "",
                         "code": f"C{number:07d}", "owner": rep, "created_by": rep, "created_at": created,
                         "updated_at": created, "server_seq": seq["sync"]})
        stats.add("new_customers", index, day, 1)
    since = [c[0] for c in customers]

    def customer_on(day: date):
        k = bisect.bisect_right(since, day)
        return customers[rng.randrange(k)] if k else None

    # Visits and daily reports.
    for day, is_work, midnight, t, _season in span:
        if not is_work:
            continue
        e = energy * (drive(t) / a0 if improver else 1.0)
        n_visits = max(0, round(rng.gauss(3.5 * e, 1.2)))
        if day == today:
            n_visits = min(n_visits, 2)
        lines = []
        for n in range(n_visits):
            c = customer_on(day)
            if c is None:
                break
            start = midnight + timedelta(hours=9 + 2 * n % 9, minutes=rng.randint(0, 59))
            located = rng.random() > 0.12
            outcome = rng.choice(OUTCOMES)
            score = rng.choice(satisfaction)
            seq["sync"] += 1
            w.add(Visit, {
                "id": new_id(), "rep": rep, "customer": c[2], "purpose": rng.choice(PURPOSES), "checkin_at": start,
                "checkout_at": start + timedelta(minutes=rng.randint(20, 90)), "visit_date": day,
                "latitude": 31.2 + rng.random() / 5 if located else None,
                "longitude": 121.4 + rng.random() / 5 if located else None,
                "accuracy_m": float(rng.randint(5, 80)) if located else None, "outcome": outcome,
                "next_step": rng.choice(NEXT_STEPS), "next_step_date": day + timedelta(days=rng.randint(1, 10)),
                "satisfaction": score, "created_at": start, "server_seq": seq["sync"], "device_time": None,
                "received_at": None, "clock_skew_s": None,
            })
            stats.add("visits", index, day, 1)
            if score is not None and stats.inside(day):
                stats.sat_sum += score
                stats.sat_count += 1
            lines.append(f"- {c[4]}: {outcome}")
        _daily_report(w, rng, new_id, seq, rep, manager, day, today, lines)

    # Opportunities through the funnel; the won ones become orders.
    orders: list[tuple] = []  # (day, customer, amount yuan, opportunity id or None)
    for day, _w, midnight, t, _season in working:
        if rng.random() >= OPPS_PER_DAY * min(1.3, drive(t)):
            continue
        c = customer_on(day)
        if c is None:
            continue
        won = sales_demo.opportunity(w, rng, new_id, stats, rep, c[2], midnight, now, tz)
        if won:
            orders.append(won)

    # Repeat business: random days for most; rep1, rep2 and rep3 work to a monthly budget, so their story
    # shows at any scale (rep3's grows every month).
    if index in (STAR, LAGGARD):
        orders += sales_demo.budget_orders(rng, customer_on, working, orders,
                                 lambda m, t: a0 * SEASON[m - 1] * (1 + GROWTH * (t - 0.5)))
    elif improver:
        orders += sales_demo.budget_orders(rng, customer_on, working, orders, lambda m, t: 0.35 + 1.6 * t, growing=True)
    else:
        for day, _w, _m, t, season in working:
            if rng.random() < ORDERS_PER_DAY * drive(t) * season:
                c = customer_on(day)
                if c is not None:
                    orders.append((day, c[2], round(rng.lognormvariate(math.log(12_500), 0.55)), None))

    partners = [i for i in team if i != index and i != IMPROVER]
    for day, customer, amount, opportunity in orders:
        sales_demo.order(w, rng, new_id, stats, seq, index, rep_ids, partners if not improver else [], day, customer,
                         amount, opportunity, margin, today, tz)


def _daily_report(w: Writer, rng: random.Random, new_id: Ids, seq: dict, rep: UUID, manager: UUID, day: date,
                  today: date, lines: list[str]) -> None:
    """A report in the state a real team would have it in: old ones decided, recent ones waiting."""
    age = (today - day).days
    roll = rng.random()
    if age == 0:
        status = "draft" if roll < 0.5 else None
    elif age <= 2:
        status = "submitted" if roll < 0.7 else ("returned" if roll < 0.8 else None)
    else:
        status = "approved" if roll < 0.9 else ("returned" if roll < 0.93 else None)
    if status is None:
        return  # a missing report: the manager's queue lists who has not reported
    rid = new_id()
    submitted = datetime.combine(day, dtime(18, rng.randint(0, 59)), clock.company_tz()).astimezone(UTC)
    decided = submitted + timedelta(hours=rng.randint(1, 20))
    is_decided = status in ("approved", "returned")
    comment = rng.choice(RETURN_COMMENTS) if status == "returned" else ("很好,继续保持。" if rng.random() < 0.2 else "")
    seq["sync"] += 1
    w.add(Report, {
        "id": rid, "rep": rep, "kind": "daily", "period_start": day,
        "summary": "\n".join(lines) or "今天在办公室整理客户资料。", "results": rng.choice(RESULTS),
        "problems": rng.choice(PROBLEMS), "plan": rng.choice(PLANS), "status": status,
        "submitted_at": submitted if status != "draft" else None, "decided_at": decided if is_decided else None,
        "decided_by": manager if is_decided else None, "manager_comment": comment, "created_at": submitted,
        "updated_at": decided if is_decided else submitted, "server_seq": seq["sync"], "device_time": None,
        "received_at": None, "clock_skew_s": None,
    })
    w.add(ReportEvent, {"id": new_id(), "report": rid, "actor": rep,
                        "action": "created" if status == "draft" else "submitted", "from_status": "",
                        "to_status": "draft" if status == "draft" else "submitted", "comment": "", "at": submitted})
    if is_decided:
        w.add(ReportEvent, {"id": new_id(), "report": rid, "actor": manager, "action": status,
                            "from_status": "submitted", "to_status": status, "comment": comment, "at": decided})
