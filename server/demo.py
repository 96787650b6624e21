"""Demo data that shows the product off: two teams, managers, reps, customers, visits and reports.

The generator takes a scale (reps, days) and writes in batches through Piccolo, so it also makes the
large data sets the benchmarks need.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, datetime, time as dtime, timedelta, timezone
from uuid import UUID, uuid4

from server import clock
from server.accounts.services import hash_password
from server.accounts.tables import Team, TeamManager, User
from server.customers.tables import Customer
from server.reports.tables import Report, ReportEvent
from server.syncing.tables import SyncCounter
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


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def company_name(rng: random.Random) -> str:
    return f"{rng.choice(CITIES)}{rng.choice(TRADES)}{rng.choice(KINDS)}有限公司"


class Batches:
    """Collects rows per table and inserts them in transactions of `size` rows, reporting progress."""

    def __init__(self, size: int = 500, out=sys.stdout):
        self.size, self.out = size, out
        self.pending: dict[type, list] = {}
        self.written = 0
        self.reported = 0
        self.last_seq = 0  # synced records take server sequence numbers in the order they are written
        self.started = time.monotonic()

    async def add(self, row) -> None:
        if isinstance(row, (Customer, Visit, Report)):
            self.last_seq += 1
            row.server_seq = self.last_seq
        rows = self.pending.setdefault(type(row), [])
        rows.append(row)
        if len(rows) >= self.size:
            await self.flush()  # every table, parents first (dict order is first-seen order)

    async def flush(self, table=None) -> None:
        for t in [table] if table else list(self.pending):
            rows = self.pending.get(t) or []
            if rows:
                await t.insert(*rows)
                self.written += len(rows)
                self.pending[t] = []
        if self.out and self.written - self.reported >= 10_000:
            self.reported = self.written
            rate = self.written / max(time.monotonic() - self.started, 1e-6)
            print(f"  {self.written:,} rows written ({rate:,.0f} rows/s)", file=self.out, flush=True)


async def is_empty() -> bool:
    return not await User.exists()


async def generate(reps: int = 8, days: int = 60, customers_per_rep: int = 40, seed: int = 7, out=sys.stdout) -> dict:
    """Write a demo company: admin, two teams with a manager each, `reps` reps, `days` days of history."""
    rng = random.Random(seed)
    now = clock.now()
    today = clock.today()
    pw = hash_password(DEMO_PASSWORD)  # one hash for everyone: hashing is deliberately slow
    batch = Batches(out=out)
    counts = {"users": 0, "customers": 0, "visits": 0, "reports": 0}

    def user(username: str, name: str, role: str, team: UUID | None) -> User:
        counts["users"] += 1
        return User(id=uuid4(), username=username, display_name=name, password_hash=pw, role=role, team=team,
                    active=True, locale="", created_at=now)

    if out:
        print(f"Generating demo data: {reps} reps, {days} days…", file=out, flush=True)
    teams = [Team(id=uuid4(), name=n, created_at=now) for n in ("华东销售一部", "华北销售二部")]
    await Team.insert(*teams)
    admin = user("admin", "系统管理员", "admin", None)
    managers = [user("manager1", "陈经理", "manager", teams[0].id), user("manager2", "林经理", "manager", teams[1].id)]
    rep_rows = [user(f"rep{i + 1}", person_name(rng), "rep", teams[i % 2].id) for i in range(reps)]
    await User.insert(admin, *managers, *rep_rows)
    await TeamManager.insert(*(TeamManager(id=uuid4(), team=t.id, manager=m.id) for t, m in zip(teams, managers)))

    first_day = today - timedelta(days=days - 1)
    for index, rep in enumerate(rep_rows):
        manager = managers[index % 2]
        # Reps differ: some are busy and punctual, one is struggling; the dashboards should show it.
        energy = 0.6 + 0.8 * rng.random()
        customers = []
        for _ in range(customers_per_rep):
            c = Customer(id=uuid4(), name=company_name(rng), contact_name=person_name(rng),
                         phone=f"1{rng.randint(30, 99)}{rng.randint(10000000, 99999999)}", address="",
                         owner=rep.id, created_by=rep.id, created_at=now, updated_at=now)
            customers.append(c)
            await batch.add(c)
            counts["customers"] += 1
        await batch.flush(Customer)
        day = first_day
        while day <= today:
            if day.weekday() < 5:
                visits_today = max(0, round(rng.gauss(3.5 * energy, 1.2)))
                if day == today:
                    visits_today = min(visits_today, 2)
                lines = []
                for n in range(visits_today):
                    c = rng.choice(customers)
                    start = datetime.combine(day, dtime(9 + 2 * n % 9, rng.randint(0, 59)), clock.company_tz())
                    located = rng.random() > 0.12
                    purpose = rng.choice(PURPOSES)
                    outcome = rng.choice(OUTCOMES)
                    await batch.add(Visit(
                        id=uuid4(), rep=rep.id, customer=c.id, purpose=purpose,
                        checkin_at=start.astimezone(timezone.utc),
                        checkout_at=(start + timedelta(minutes=rng.randint(20, 90))).astimezone(timezone.utc),
                        visit_date=day, latitude=31.2 + rng.random() / 5 if located else None,
                        longitude=121.4 + rng.random() / 5 if located else None,
                        accuracy_m=float(rng.randint(5, 80)) if located else None, outcome=outcome,
                        next_step=rng.choice(NEXT_STEPS), next_step_date=day + timedelta(days=rng.randint(1, 10)),
                        satisfaction=rng.choice([None, 3, 4, 4, 5, 5]), created_at=start.astimezone(timezone.utc),
                    ))
                    counts["visits"] += 1
                    lines.append(f"- {c.name}: {outcome}")
                await _daily_report(batch, rng, rep, manager, day, today, lines)
                counts["reports"] += 1
            day += timedelta(days=1)
        await batch.flush()
    await batch.flush()
    await SyncCounter.update({SyncCounter.value: batch.last_seq}).where(SyncCounter.id == 1)
    if out:
        print(f"Done: {counts['users']} users, {counts['customers']:,} customers, {counts['visits']:,} visits, "
              f"{counts['reports']:,} daily reports.", file=out, flush=True)
    return counts


async def _daily_report(batch: Batches, rng: random.Random, rep: User, manager: User, day: date, today: date,
                        lines: list[str]) -> None:
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
    rid = uuid4()
    submitted = datetime.combine(day, dtime(18, rng.randint(0, 59)), clock.company_tz()).astimezone(timezone.utc)
    decided = submitted + timedelta(hours=rng.randint(1, 20))
    comment = rng.choice(RETURN_COMMENTS) if status == "returned" else ("很好,继续保持。" if rng.random() < 0.2 else "")
    await batch.add(Report(
        id=rid, rep=rep.id, kind="daily", period_start=day, summary="\n".join(lines) or "今天在办公室整理客户资料。",
        results=rng.choice(RESULTS), problems=rng.choice(PROBLEMS), plan=rng.choice(PLANS), status=status,
        submitted_at=submitted if status != "draft" else None,
        decided_at=decided if status in ("approved", "returned") else None,
        decided_by=manager.id if status in ("approved", "returned") else None, manager_comment=comment,
        created_at=submitted, updated_at=decided if status in ("approved", "returned") else submitted,
    ))
    await batch.add(ReportEvent(id=uuid4(), report=rid, actor=rep.id, action="created" if status == "draft" else "submitted",
                                from_status="", to_status="draft" if status == "draft" else "submitted", comment="", at=submitted))
    if status in ("approved", "returned"):
        await batch.add(ReportEvent(id=uuid4(), report=rid, actor=manager.id, action=status, from_status="submitted",
                                    to_status=status, comment=comment, at=decided))
