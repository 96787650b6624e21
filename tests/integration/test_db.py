"""The db package's engine helpers give the same meaning on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from server import clock, db
from server.accounts.tables import Team
from server.imports.tables import ImportBatch
from server.syncing import sequence
from server.syncing.tables import SyncCounter
from tests import factories


def test_ilike_matches_ignoring_case(client):
    async def go():
        await factories.team("Acme Shanghai")
        await factories.team("Beta")
        rows = await Team.select(Team.name).where(db.ilike(Team.name, "%acme%"))
        return [r["name"] for r in rows]

    assert client.run(go()) == ["Acme Shanghai"]


def test_month_days_between_and_timestamp_arguments(client, world):
    async def go():
        when = datetime(2026, 3, 14, 2, 0, tzinfo=UTC)
        await factories.visit(world.rep, world.customer, when=when)
        later = when + timedelta(days=2, hours=12)
        rows = await Team.raw(
            f"SELECT {db.month_of('visit_date')} AS month, "
            f"{db.days_between(f'COALESCE(NULL, {db.timestamp_param()})', 'checkin_at')} AS days "
            "FROM visit WHERE rep = {}", db.timestamp_arg(later), world.rep)
        return rows

    rows = client.run(go())
    assert len(rows) == 1 and rows[0]["month"] == "2026-03"
    assert abs(float(rows[0]["days"]) - 2.5) < 1e-6


def test_a_locked_read_then_write_loses_no_update(client):
    """Two writers at once each read the counter (locked) and write it back plus one: no update is lost."""

    async def bump(delay: float) -> None:
        async with db.write_transaction():
            row = await db.locked(SyncCounter.select(SyncCounter.value).where(SyncCounter.id == 1)).first()
            await db.lock_row("sync_counter", 1)
            await asyncio.sleep(delay)  # the other writer runs meanwhile (PostgreSQL) or waits (SQLite)
            await SyncCounter.update({SyncCounter.value: row["value"] + 1}).where(SyncCounter.id == 1)

    async def go():
        before = (await SyncCounter.select(SyncCounter.value).first())["value"]
        await asyncio.gather(bump(0.05), bump(0.0), bump(0.02))
        return before, (await SyncCounter.select(SyncCounter.value).first())["value"]

    before, after = client.run(go())
    assert after == before + 3
    rows = client.run(Team.raw("SELECT value FROM sync_counter WHERE id = {}" + db.for_update(), 1))
    assert rows[0]["value"] == after


def test_insert_or_ignore_upsert_and_numbered_insert(client):
    async def go():
        tid, other = uuid4(), uuid4()
        now = clock.now()
        cols = ("id", "name", "created_at")
        async with db.write_transaction() as t:
            await db.bulk_load(t)
            args = db.driver_values([tid, "First", now])
            await db.run_script(_one(db.insert_or_ignore("team", cols, ["id"]), args))
            await db.run_script(_one(db.insert_or_ignore("team", cols, ["id"]), db.driver_values([tid, "Again", now])))
        first = (await Team.select(Team.name).where(Team.id == tid).first())["name"]
        await db.run_write(_one(db.upsert("team", cols, ["id"], ["name"]), db.driver_values([tid, "Renamed", now])))
        renamed = (await Team.select(Team.name).where(Team.id == tid).first())["name"]
        counter = (await SyncCounter.select(SyncCounter.value).first())["value"]
        rep = await factories.user("rep")
        cid = await factories.customer(rep)
        vcols = ("id", "rep", "customer", "purpose", "checkin_at", "visit_date", "created_at")
        existing = await factories.visit(rep, cid)
        # On SQLite the caller's check inside the write lock is final: no row can appear since, so only new
        # ids are offered. On PostgreSQL a concurrent writer may have committed one: it is skipped and left
        # out of the answer.
        offered = [other] if db.is_sqlite() else [other, existing]
        rows = [db.driver_values([vid, rep, cid, "demo", now, date(2026, 3, 1), now]) for vid in offered]
        inserted = await db.run_write(sequence.insert_numbered("visit", vcols, rows, conflict=("id",)))
        seqs = await Team.raw("SELECT server_seq FROM visit WHERE id = {}", db.driver_values([other])[0])
        after = (await SyncCounter.select(SyncCounter.value).first())["value"]
        return first, renamed, counter, inserted, other, seqs, after

    first, renamed, counter, inserted, other, seqs, after = client.run(go())
    assert (first, renamed) == ("First", "Renamed")
    assert {db.as_uuid(v) for v in inserted} == {other}
    assert counter < seqs[0]["server_seq"] <= after


def _one(text: str, args: list) -> db.Script:
    return (yield db.Sql(text, args))


def test_find_keys_reads_owners_in_one_statement(client, world):
    async def go():
        vid = await factories.visit(world.rep, world.customer)
        return await db.run_read(db.find_keys([
            db.Lookup("visits", "visit", "id", "rep", [vid, uuid4()]),
            db.Lookup("mine", "customer", "id", "owner", [world.customer, world.other_customer],
                      where="owner", equals=world.rep),
            db.Lookup("none", "customer", "id", "owner", []),
        ])), vid

    found, vid = client.run(go())
    assert found == {"visits": {vid: world.rep}, "mine": {world.customer: world.rep}, "none": {}}


def test_write_beside_is_seen_outside_the_open_transaction_on_postgresql(client, world):
    async def go():
        bid = uuid4()
        now = clock.now()
        await ImportBatch.insert(ImportBatch(id=bid, kind="customers", filename="x.csv", content="", encoding="utf-8",
                                             status="running", created_by=world.admin, created_at=now))
        async with db.write_transaction():
            wrote = await db.write_beside(ImportBatch.update({ImportBatch.processed_rows: 7}).where(ImportBatch.id == bid))
            seen = None
            if wrote:  # read on another pooled connection, while this transaction is open
                seen = await db.run_read(_one("SELECT processed_rows FROM import_batch WHERE id = {}", [bid]))
        return wrote, seen

    wrote, seen = client.run(go())
    if db.is_sqlite():
        assert wrote is False and seen is None
    else:
        assert wrote is True and seen == [{"processed_rows": 7}]


def test_the_row_locks_the_target_and_sales_services_take(client, world):
    """The exact forms proposed for targets (a plan locked with its columns; every plan of its year,
    locked in id order) and sales (one order row locked), on both engines."""
    from server.targets.tables import TargetPlan

    columns = (TargetPlan.id, TargetPlan.name, TargetPlan.year, TargetPlan.status, TargetPlan.created_at,
               TargetPlan.updated_at, TargetPlan.approved_at)

    async def go():
        now = clock.now()
        ids = [uuid4(), uuid4()]
        for n, pid in enumerate(ids):
            await TargetPlan.insert(TargetPlan(id=pid, name=f"Plan {n}", year=2031, status="draft", created_at=now,
                                               updated_at=now))
        async with db.write_transaction():
            plan = await db.locked(TargetPlan.select(*columns).where(TargetPlan.id == ids[0])).first()
            year_rows = await TargetPlan.raw(
                "SELECT id, year, status FROM target_plan WHERE year = (SELECT year FROM target_plan WHERE id = {})"
                " ORDER BY id" + db.for_update(), ids[0])
            await db.lock_row("target_plan", ids[1])
        return plan, year_rows, ids

    plan, year_rows, ids = client.run(go())
    assert plan["id"] == ids[0] and plan["status"] == "draft" and plan["year"] == 2031
    assert sorted(str(r["id"]) for r in year_rows) == sorted(str(i) for i in ids)
