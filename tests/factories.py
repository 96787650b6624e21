"""Small factories for test data. Each returns the created row's id; names are unique per call."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from uuid import UUID, uuid4

from server import changes, clock
from server.accounts.services import hash_password
from server.accounts.tables import Team, TeamManager, User
from server.customers.tables import Customer
from server.reports.tables import Report
from server.visits.tables import Visit

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
               leads: list[UUID] | None = None, name: str | None = None) -> UUID:
    uid = uuid4()
    n = next(_seq)
    await User.insert(User(
        id=uid, username=username or f"{role}{n}", display_name=name or f"{role.title()} {n}",
        password_hash=password_hash(), role=role, team=team, active=active, locale="", created_at=clock.now(),
    ))
    for t in leads or []:
        await TeamManager.insert(TeamManager(id=uuid4(), team=t, manager=uid))
    return uid


async def customer(owner: UUID, name: str | None = None) -> UUID:
    cid = uuid4()
    now = clock.now()
    await Customer.insert(Customer(id=cid, name=name or f"Customer {next(_seq)}", owner=owner, created_by=owner,
                                   created_at=now, updated_at=now, server_seq=await changes.allocate()))
    return cid


async def visit(rep: UUID, customer: UUID, when: datetime | None = None, outcome: str = "Met the buyer") -> UUID:
    vid = uuid4()
    when = when or clock.now()
    await Visit.insert(Visit(id=vid, rep=rep, customer=customer, purpose="follow_up", checkin_at=when,
                             visit_date=clock.local_date(when), outcome=outcome, created_at=clock.now(),
                             server_seq=await changes.allocate()))
    return vid


async def report(rep: UUID, day: date | None = None, status: str = "submitted", kind: str = "daily",
                 summary: str = "Visited two customers") -> UUID:
    rid = uuid4()
    now = clock.now()
    await Report.insert(Report(id=rid, rep=rep, kind=kind, period_start=day or clock.today(), summary=summary,
                               status=status, submitted_at=now if status != "draft" else None,
                               created_at=now, updated_at=now, server_seq=await changes.allocate()))
    return rid


def days_ago(n: int) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=n)
