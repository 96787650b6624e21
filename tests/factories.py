"""Small factories for test data. Each returns the created row's id; names are unique per call."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from uuid import UUID, uuid4

from server import clock
from server.accounts.services import hash_password
from server.accounts.tables import Team, TeamManager, User
from server.customers.keys import name_key
from server.customers.tables import Customer
from server.reports.tables import Report
from server.syncing import sequence
from server.visits import photos
from server.visits.tables import Visit, VisitPhoto

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)


@lru_cache(maxsize=1)
def password_hash() -> str:
    return hash_password(PASSWORD)


async def team(name: str | None = None) -> UUID:
    tid = uuid4()
    await Team.insert(Team(id=tid, name=name or f"Team {next(_seq)}", created_at=clock.now()))
    return tid


async def user(role: str = "rep", team: UUID | None = None, username: str | None = None, active: bool = True,
               leads: list[UUID] | None = None, name: str | None = None, rep_kind: str = "field") -> UUID:
    uid = uuid4()
    n = next(_seq)
    await User.insert(User(
        id=uid, username=username or f"{role}{n}", display_name=name or f"{role.title()} {n}",
        password_hash=password_hash(), role=role, team=team, active=active, locale="", created_at=clock.now(),
        rep_kind=rep_kind,
    ))
    for t in leads or []:
        await TeamManager.insert(TeamManager(id=uuid4(), team=t, manager=uid))
    return uid


async def customer(owner: UUID, name: str | None = None) -> UUID:
    cid = uuid4()
    now = clock.now()
    name = name or f"Customer {next(_seq)}"
    await Customer.insert(Customer(id=cid, name=name, name_key=name_key(name), owner=owner, created_by=owner,
                                   created_at=now, updated_at=now, server_seq=await sequence.allocate()))
    return cid


async def visit(rep: UUID, customer: UUID, when: datetime | None = None, outcome: str = "Met the buyer") -> UUID:
    vid = uuid4()
    when = when or clock.now()
    await Visit.insert(Visit(id=vid, rep=rep, customer=customer, purpose="follow_up", checkin_at=when,
                             visit_date=clock.local_date(when), outcome=outcome, created_at=clock.now(),
                             server_seq=await sequence.allocate()))
    return vid


async def report(rep: UUID, day: date | None = None, status: str = "submitted", kind: str = "daily",
                 summary: str = "Visited two customers") -> UUID:
    rid = uuid4()
    now = clock.now()
    await Report.insert(Report(id=rid, rep=rep, kind=kind, period_start=day or clock.today(), summary=summary,
                               status=status, submitted_at=now if status != "draft" else None,
                               created_at=now, updated_at=now, server_seq=await sequence.allocate()))
    return rid


def days_ago(n: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=n)


# --- Results data (server/sales) -----------------------------------------------------------------


async def order(customer: UUID, splits: dict[UUID, int], amount: float = 1000.0, cost: float = 600.0,
                day: date | None = None, number: str | None = None, due: date | None = None) -> UUID:
    """An order of `amount` (yuan) on `day`, split among reps: {rep id: share in basis points (sum 10000)}."""
    from server.sales import credits
    from server.sales.tables import Order, OrderSplit

    oid = uuid4()
    day = day or clock.today()
    now = clock.now()
    await Order.insert(Order(
        id=oid, number=number or f"SO-{next(_seq):06d}", customer=customer, order_date=day, due_date=due,
        amount_cents=round(amount * 100), cost_cents=round(cost * 100), created_at=now, updated_at=now,
    ))
    # Each rep's credited cents, allocated once by largest remainder, as the services store them.
    await OrderSplit.insert(*[OrderSplit(**row) for row in credits.split_rows(
        oid, day, round(amount * 100), round(cost * 100), list(splits.items()))])
    return oid


async def collection(order_id: UUID, amount: float, day: date | None = None, number: str | None = None) -> UUID:
    from server.sales import credits
    from server.sales.tables import Collection, CollectionSplit

    cid = uuid4()
    await Collection.insert(Collection(
        id=cid, number=number or f"RC-{next(_seq):06d}", sales_order=order_id, received_on=day or clock.today(),
        amount_cents=round(amount * 100), created_at=clock.now(),
    ))
    await CollectionSplit.insert(*[CollectionSplit(**row) for row in credits.collection_rows(
        cid, order_id, day or clock.today(), round(amount * 100), await credits.current_split(order_id))])
    return cid


async def opportunity(owner: UUID, customer: UUID, stage: str = "lead", amount: float = 5000.0,
                      closed_on: date | None = None, name: str | None = None) -> UUID:
    from server.sales.tables import Opportunity, OpportunityStage

    oid = uuid4()
    now = clock.now()
    if stage in ("won", "lost") and closed_on is None:
        closed_on = clock.today()
    await Opportunity.insert(Opportunity(
        id=oid, name=name or f"Deal {next(_seq)}", customer=customer, owner=owner, stage=stage,
        amount_cents=round(amount * 100), stage_changed_at=now, closed_on=closed_on, created_by=owner,
        created_at=now, updated_at=now,
    ))
    await OpportunityStage.insert(OpportunityStage(id=uuid4(), opportunity=oid, from_stage="", to_stage=stage,
                                                   changed_at=now, changed_by=owner))
    return oid


# --- sales helpers ---


async def sales_records(rep: UUID, customer: UUID) -> dict[str, UUID]:
    """An order of `rep`'s customer (1000, 40 days old, 100 collected) and an open opportunity (proposal)."""
    order_id = await order(customer, {rep: 10_000}, amount=1000, day=clock.today() - timedelta(days=40))
    return {
        "order": order_id,
        "collection": await collection(order_id, 100),
        "opportunity": await opportunity(rep, customer, stage="proposal"),
    }


# --- targets helpers ---


async def plan(year: int = 2026, name: str | None = None, targets: dict[str, float] | None = None,
               status: str = "draft", created_by: UUID | None = None) -> UUID:
    """A target plan with the company's year target per KPI code ({"revenue": 120000.0} by default)."""
    from server.targets import actuals as _actuals
    from server.targets.tables import COMPANY_SCOPE_ID, Target, TargetPlan

    pid = uuid4()
    now = clock.now()
    await TargetPlan.insert(TargetPlan(id=pid, name=name or f"Plan {next(_seq)}", year=year, status=status,
                                       created_by=created_by, created_at=now, updated_at=now,
                                       approved_at=now if status == "approved" else None))
    for code, value in (targets if targets is not None else {"revenue": 120000.0}).items():
        kpi = await _actuals.kpi_by_code(code)
        await Target.insert(Target(id=uuid4(), plan=pid, kpi=kpi.id, period=f"{year:04d}", period_kind="year",
                                   period_start=date(year, 1, 1), period_end=date(year, 12, 31), scope_kind="company",
                                   scope_id=UUID(COMPANY_SCOPE_ID), value=value, updated_at=now))
    return pid


async def target(plan_id: UUID, code: str, period: str, scope_kind: str, scope_id: UUID | str, value: float) -> UUID:
    """One cell of a plan (period code "2026", "2026-Q1" or "2026-03")."""
    from server.targets import actuals as _actuals
    from server.targets import formulas as _formulas
    from server.targets.tables import Target

    kind, start, end = _formulas.parse_period(period)
    kpi = await _actuals.kpi_by_code(code)
    tid = uuid4()
    await Target.insert(Target(id=tid, plan=plan_id, kpi=kpi.id, period=period, period_kind=kind, period_start=start,
                               period_end=end, scope_kind=scope_kind, scope_id=UUID(str(scope_id)), value=value,
                               updated_at=clock.now()))
    return tid


async def team_plan(team_id: UUID, rep_id: UUID, year: int = 2026) -> UUID:
    """A draft plan with revenue year targets for the company (1,200), one team (600) and one rep (300)."""
    pid = await plan(year, targets={"revenue": 1200.0})
    await target(pid, "revenue", f"{year:04d}", "team", team_id, 600.0)
    await target(pid, "revenue", f"{year:04d}", "rep", rep_id, 300.0)
    return pid


async def custom_kpi(name: str | None = None) -> UUID:
    """A custom KPI: visits whose purpose is demo."""
    from server.targets.tables import Kpi

    kid = uuid4()
    n = next(_seq)
    await Kpi.insert(Kpi(id=kid, code=f"custom_{n}", name=name or f"Custom KPI {n}", unit="count", direction="higher",
                         kind="sum", builtin=False, source="visits", measure="count", filter_field="purpose",
                         filter_value="demo", created_at=clock.now()))
    return kid


async def calendar_day(working: bool = False) -> UUID:
    """A work-calendar exception on a day of its own."""
    from server.targets.tables import WorkCalendar

    wid = uuid4()
    await WorkCalendar.insert(WorkCalendar(id=wid, day=date(2031, 1, 1) + timedelta(days=next(_seq)), working=working))
    return wid


# --- Notifications and push subscriptions (server/notifications) --------------------------------------


def browser_keys() -> tuple[object, str, bytes, str]:
    """A P-256 key pair and a 16-byte auth secret, as a browser makes them for a push subscription:
    (private key, p256dh as base64url, auth secret, auth as base64url)."""
    import base64
    import os as _os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    secret = _os.urandom(16)
    b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()  # noqa: E731
    return key, b64(public), secret, b64(secret)


def subscription_body(endpoint: str | None = None) -> dict:
    _key, p256dh, _secret, auth = browser_keys()
    return {"endpoint": endpoint or f"https://push.example.test/{uuid4().hex}", "keys": {"p256dh": p256dh, "auth": auth}}


async def subscription(owner: UUID, endpoint: str | None = None) -> UUID:
    from server.notifications.tables import PushSubscription

    body = subscription_body(endpoint)
    sid = uuid4()
    await PushSubscription.insert(PushSubscription(
        id=sid, owner=owner, endpoint=body["endpoint"], p256dh=body["keys"]["p256dh"], auth=body["keys"]["auth"],
        label="Test browser", created_at=clock.now()))
    return sid


async def notification(recipient: UUID, kind: str = "test", url: str = "/inbox", read: bool = False) -> UUID:
    from server.notifications.tables import Notification

    nid = uuid4()
    await Notification.insert(Notification(
        id=nid, recipient=recipient, kind=kind, rule="test", subject="s", period="p", level=nid.hex,
        dedup_key=f"{recipient}|test|{nid}", params="{}", url=url, created_at=clock.now(),
        read_at=clock.now() if read else None))
    return nid


# A JPEG as far as the server looks (its magic bytes; photos are not decoded on the server).
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) + b"\xff\xd9"


async def visit_photo(rep: UUID, visit: UUID, data: bytes = JPEG) -> UUID:
    """A photo of a visit, stored as an upload stores it (the file in the photo directory, then the row)."""
    pid = uuid4()
    photos.write_whole(photos.path_of(pid), data)
    await VisitPhoto.insert(VisitPhoto(id=pid, visit=visit, rep=rep, content_type="image/jpeg", size_bytes=len(data),
                                       thumb_bytes=0, created_at=clock.now()))
    return pid
FIELD_TEMPLATE = UUID("00000000-0000-0000-0008-000000000001")


async def evaluation_cycles(team: UUID, rep: UUID, peer: UUID, manager: UUID) -> dict[str, UUID]:
    """Four evaluation cycles of `team` on the ready field-rep template, one per state (open, rating,
    calibration, published), each with `rep` rated by themself, `manager` and `peer`; the last two with
    final scores. Returns {state: cycle id, "<state>_score": rep's score, "self_form": rep's self form in
    the rating cycle, "peer_form": peer's form for rep in it}."""
    from server.evaluation import scores
    from server.evaluation.tables import EvaluationCycle, RaterAssignment, Score

    out: dict[str, UUID] = {}
    for month, state in enumerate(("open", "rating", "calibration", "published"), start=1):
        cid = uuid4()
        await EvaluationCycle.insert(EvaluationCycle(
            id=cid, template=FIELD_TEMPLATE, team=team, kind="month", period=f"2025-{month:02d}", state="rating",
            opened_by=manager, opened_at=clock.now(), rating_due=date(2025, month, 28)))
        forms = {role: uuid4() for role in ("self", "manager", "peer")}
        await RaterAssignment.insert(
            RaterAssignment(id=forms["self"], cycle=cid, ratee=rep, rater=rep, role="self"),
            RaterAssignment(id=forms["manager"], cycle=cid, ratee=rep, rater=manager, role="manager"),
            RaterAssignment(id=forms["peer"], cycle=cid, ratee=rep, rater=peer, role="peer"))
        if state in ("calibration", "published"):
            await scores.compute(cid, final=True, peer_min=3)
            score = await Score.select(Score.id).where((Score.cycle == cid) & (Score.rep == rep)).first()
            out[f"{state}_score"] = score["id"]
        await EvaluationCycle.update({EvaluationCycle.state: state}).where(EvaluationCycle.id == cid)
        out[state] = cid
        if state == "rating":
            out["self_form"], out["peer_form"], out["manager_form"] = forms["self"], forms["peer"], forms["manager"]
    return out
