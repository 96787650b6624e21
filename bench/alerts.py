"""Alerts and pushes at scale: every alert rule for every rep, and 1,000 Web Pushes to a local receiver.

    .venv/bin/python bench/alerts.py                    # 1,000 reps x 365 days, both engines
    .venv/bin/python bench/alerts.py --quick            # 100 reps x 90 days, 200 pushes: a smoke run
    .venv/bin/python bench/alerts.py --engines sqlite   # one engine; --reps, --days, --runs, --pushes

Targets (docs/benchmarks.md, section "Alerts and pushes"):
  1. evaluating every rule (lagging target through the pace engine, inactivity, anomaly, missing report)
     for every rep, notifications included (`server.notifications.alerts.evaluate`, in-process): under
     3 s, beside the bare pace query (the month's orders and visits summed per rep) and the full pace board;
  2. sending 1,000 queued notifications to a local receiver through the delivery queue
     (`server.notifications.push.Sender.drain`): at least 200 per second, beside the bare rate at which
     pywebpush encrypts and posts the same payloads (no database) in the same run.

The data is bench/pace.py's (the demo company, cached under bench/out/; PostgreSQL loaded with COPY into a
temporary database). Output: readable lines, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import env_for, log, machine, pct, prepare_database
from bench.pace import DEFAULT_POSTGRES, FLOOR_ORDERS, FLOOR_VISITS, pg_admin, pg_load, pg_url  # noqa: E402
from server.testing import free_port

EVALUATE_TARGET_S = 3.0
PUSH_TARGET_PER_S = 200.0


def stats(times: list[float]) -> dict:
    return {"n": len(times), "p50_ms": pct(times, 0.5), "p95_ms": pct(times, 0.95), "max_ms": max(times)}


async def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def receiver(port: int):
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_push_receiver.py"), str(port)], cwd=ROOT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the push receiver did not start")


def received(port: int) -> int:
    return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5).read())["count"]


async def in_process(url: str, data_dir: Path, args, port: int) -> dict:
    from server import clock, db, i18n
    from server.accounts.tables import User
    from server.notifications import alerts, services
    from server.notifications.push import Sender
    from server.notifications.services import NewNotification
    from server.notifications.tables import AlertRule, Notification, PushDelivery, PushSubscription
    from server.settings import Settings
    from server.targets import formulas, pace
    from server.targets.calendar import calendar_overrides
    from tests import factories

    settings = Settings.from_env(data_dir=data_dir, database_url=url, vapid_subject="mailto:bench@fieldpace.example",
                                 push_allow_http=True, push_concurrency=args.concurrency)
    clock.configure(settings.timezone)
    i18n.configure(settings.currency)
    engine = db.make_engine(url)
    db.bind(engine)
    await db.prepare(engine)
    out: dict = {}
    try:
        # A working day at 20:00 company time, so every rule (the report cut-off included) is evaluated.
        today = clock.today()
        overrides = await calendar_overrides(today - timedelta(days=14), today)
        while not formulas.is_working(today, overrides):
            today -= timedelta(days=1)
        now = datetime.combine(today, dtime(20, 0), clock.company_tz())
        await AlertRule.update({AlertRule.enabled: True, AlertRule.to_rep: True, AlertRule.to_manager: True}, force=True)
        # Lagging from the first day of the month, so its notifications are made and counted too.
        await AlertRule.update({AlertRule.params: '{"min_elapsed": 0}'}).where(AlertRule.code == "lagging")
        await Notification.delete(force=True)
        month = formulas.period_of(today, formulas.MONTH)
        _k, start, end = formulas.parse_period(month)
        out["day"], out["reps"] = today.isoformat(), await User.count().where(User.role == "rep")

        async def floor():
            await Notification.raw(FLOOR_ORDERS.replace("{reps}", ""), start, end)
            await Notification.raw(FLOOR_VISITS.replace("{reps}", ""), start, end)

        await floor()
        out["floor"] = stats(await timed(floor, args.runs * 3))
        board_actor = alerts.SYSTEM
        out["pace"] = stats(await timed(lambda: pace.compute(board_actor, month, today=today), args.runs))
        t0 = time.perf_counter()
        first = await alerts.evaluate(now)
        out["evaluate_first_ms"] = (time.perf_counter() - t0) * 1000.0
        out["evaluate_first_counts"] = first
        out["evaluate"] = stats(await timed(lambda: alerts.evaluate(now), args.runs))  # deduplicated reruns
        out["notifications"] = await Notification.count()

        # Pushes: one user, one subscription at the local receiver, `pushes` queued notifications.
        await PushDelivery.delete(force=True)
        await Notification.delete(force=True)
        await PushSubscription.delete(force=True)
        key, p256dh, secret, auth = factories.browser_keys()
        rep = (await User.select(User.id).where(User.role == "rep").first())["id"]
        endpoint = f"http://127.0.0.1:{port}/push/bench"
        await PushSubscription.insert(PushSubscription(owner=rep, endpoint=endpoint, p256dh=p256dh, auth=auth,
                                                       label="bench", created_at=clock.now()))
        await services.notify([NewNotification(rep, "report_returned", "feedback", f"report:{i}", "p", "l",
                                               {"manager": "Zhao Min", "day": today.isoformat(),
                                                "comment": "请补充客户的反馈和下一步计划。"}, "/reports")
                               for i in range(args.pushes)])
        before = received(port)
        sender = Sender(settings)
        t0 = time.perf_counter()
        counts = await sender.drain()
        queue_s = time.perf_counter() - t0
        await sender.close()
        out["queue"] = {"pushes": args.pushes, "s": queue_s, "per_s": args.pushes / queue_s, "counts": counts,
                        "received": received(port) - before}

        # The bare rate: the same payloads through pywebpush alone, same concurrency, same session reuse.
        import aiohttp
        from py_vapid import Vapid02
        from pywebpush import webpush_async

        vapid = Vapid02.from_raw(settings.secrets()["vapid_private_key"].encode())
        info = {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
        body = json.dumps({"id": "00000000-0000-0000-0000-000000000000", "title": "Zhao Min returned your report",
                           "body": "What to change: 请补充客户的反馈和下一步计划。", "url": "/inbox/x/open"},
                          ensure_ascii=False)
        semaphore = asyncio.Semaphore(args.concurrency)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as session:
            async def one():
                async with semaphore:
                    await webpush_async(info, body, vapid_private_key=vapid,
                                        vapid_claims={"sub": "mailto:bench@fieldpace.example"}, ttl=3600,
                                        aiohttp_session=session)
            before = received(port)
            t0 = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(args.pushes)))
            bare_s = time.perf_counter() - t0
        out["bare"] = {"pushes": args.pushes, "s": bare_s, "per_s": args.pushes / bare_s,
                       "received": received(port) - before}
    finally:
        await db.close(engine)
    return out


def report(name: str, r: dict) -> None:
    log("")
    log(f"{name} — {r['reps']} reps, day {r['day']}:")
    log(f"  {'what':<58} {'p50 ms':>9} {'p95 ms':>9}")
    log(f"  {'floor: month orders + visits by rep (bare SQL)':<58} {r['floor']['p50_ms']:9.1f} {r['floor']['p95_ms']:9.1f}")
    log(f"  {'pace board, every rep and KPI':<58} {r['pace']['p50_ms']:9.1f} {r['pace']['p95_ms']:9.1f}")
    log(f"  {'every rule, first run (' + str(r['notifications']) + ' notifications made)':<58} "
        f"{r['evaluate_first_ms']:9.1f}")
    log(f"  {'every rule, again (all deduplicated)':<58} {r['evaluate']['p50_ms']:9.1f} {r['evaluate']['p95_ms']:9.1f}")
    q, b = r["queue"], r["bare"]
    log(f"  pushes through the queue: {q['pushes']} in {q['s']:.2f} s = {q['per_s']:.0f}/s "
        f"(receiver got {q['received']}); bare pywebpush: {b['per_s']:.0f}/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--team-size", type=int, default=50)
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pushes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.days, args.runs, args.pushes = min(args.reps, 100), min(args.days, 90), 2, 200
    m = machine()
    log(f"Machine: {m['cpus']} CPUs, {m['cpu_model'] or 'unknown CPU'}, Python {m['python']}, {m['platform']}; "
        f"load average {m['load_avg'][0]}")
    result: dict = {"machine": m, "scale": {"reps": args.reps, "days": args.days}, "engines": {}}
    port = free_port()
    push_service = receiver(port)
    try:
        with tempfile.TemporaryDirectory(prefix="fieldpace-bench-alerts-") as tmp:
            workdir = Path(tmp)
            db_path, meta = prepare_database(args, workdir)
            result["data"] = meta
            for name in [e.strip() for e in args.engines.split(",") if e.strip()]:
                if name == "sqlite":
                    result["engines"]["sqlite"] = r = asyncio.run(in_process(f"sqlite:///{db_path}", workdir / "d", args, port))
                    report("SQLite", r)
                    continue
                dbname = f"fieldpace_bench_alerts_{os.getpid()}"
                try:
                    asyncio.run(pg_admin(args.postgres, f'CREATE DATABASE "{dbname}"'))
                except Exception as e:  # noqa: BLE001 - unreachable server
                    log(f"\nPostgreSQL: skipped ({e})")
                    result["engines"]["postgres"] = {"skipped": str(e)}
                    continue
                try:
                    url = pg_url(args.postgres, dbname)
                    env = env_for(workdir / "run", url)
                    done = subprocess.run([sys.executable, "-m", "server.cli", "migrate"], cwd=ROOT, env=env,
                                          capture_output=True, text=True)
                    if done.returncode:
                        raise RuntimeError(f"migrate failed: {done.stdout[-1000:]}{done.stderr[-1000:]}")
                    asyncio.run(pg_load(url, db_path))
                    result["engines"]["postgres"] = r = asyncio.run(in_process(url, workdir / "d", args, port))
                    report("PostgreSQL", r)
                finally:
                    asyncio.run(pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
    finally:
        push_service.terminate()
        push_service.wait(timeout=10)
    log("")
    verdicts = {}
    for name, r in result["engines"].items():
        if "skipped" in r:
            continue
        verdicts[f"{name}_evaluate"] = ok = max(r["evaluate_first_ms"], r["evaluate"]["p95_ms"]) < EVALUATE_TARGET_S * 1000
        log(f"{'PASS' if ok else 'MISS'}  {name}: every rule for every rep, first {r['evaluate_first_ms'] / 1000:.2f} s, "
            f"reruns p95 {r['evaluate']['p95_ms'] / 1000:.2f} s (target < {EVALUATE_TARGET_S:.0f} s)")
        verdicts[f"{name}_push"] = ok = r["queue"]["per_s"] >= PUSH_TARGET_PER_S and r["queue"]["received"] == args.pushes
        log(f"{'PASS' if ok else 'MISS'}  {name}: {r['queue']['per_s']:.0f} pushes/s through the queue "
            f"(bare pywebpush {r['bare']['per_s']:.0f}/s; target >= {PUSH_TARGET_PER_S:.0f}/s)")
    result["pass"] = verdicts
    result["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, ensure_ascii=False, sort_keys=True, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
