"""Scores at scale: every rep's provisional score for a month, and a rep's scorecard page.

    .venv/bin/python bench/scores.py                    # 1,000 reps x 365 days, teams of 50, both engines
    .venv/bin/python bench/scores.py --quick            # 100 reps x 90 days: a smoke run
    .venv/bin/python bench/scores.py --engines sqlite   # one engine; --reps, --days, --runs, --requests

Targets (docs/benchmarks.md, section "Scores"):
  1. computing every rep's provisional score for last month (`server.evaluation.jobs.compute_scores`:
     one cycle per team on the field-rep template, in-process): under 2 s, beside the bare aggregates over
     the same rows (the month's order splits summed per rep, the month's visits counted per rep);
  2. a rep's scorecard page (GET /evaluation/scores/<id> as rep1, real HTTP through uvicorn): p95 under
     30 ms in-server time.

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
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import env_for, latency, log, machine, pct, prepare_database, server_side, server_timings, sign_in, uvicorn  # noqa: E402
from bench.pace import DEFAULT_POSTGRES, FLOOR_ORDERS, FLOOR_VISITS, pg_admin, pg_load, pg_url  # noqa: E402

COMPUTE_TARGET_S = 2.0
PAGE_TARGET_MS = 30.0
FIELD = "00000000-0000-0000-0008-000000000001"


def stats(times: list[float]) -> dict:
    return {"n": len(times), "p50_ms": pct(times, 0.5), "p95_ms": pct(times, 0.95), "max_ms": max(times)}


async def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


async def in_process(url: str, data_dir: Path, args) -> dict:
    from uuid import UUID, uuid4

    from server import clock, db, i18n
    from server.accounts.tables import Team, TeamManager, User
    from server.evaluation import jobs, scores
    from server.evaluation.tables import EvaluationCycle, RaterAssignment, Score
    from server.jobs.registry import JobContext
    from server.settings import Settings

    settings = Settings.from_env(data_dir=data_dir, database_url=url)
    clock.configure(settings.timezone)
    i18n.configure(settings.currency)
    engine = db.make_engine(url)
    db.bind(engine)
    await db.prepare(engine)
    out: dict = {}
    try:
        first = clock.today().replace(day=1)
        end = first - timedelta(days=1)
        start = end.replace(day=1)
        month = f"{end.year:04d}-{end.month:02d}"
        out["month"] = month
        await Score.delete(force=True)
        await RaterAssignment.delete(force=True)
        await EvaluationCycle.delete(force=True)
        for team in await Team.select(Team.id):
            lead = await TeamManager.select(TeamManager.manager).where(TeamManager.team == team["id"]).first()
            cid = uuid4()
            due = clock.today() + timedelta(days=30)
            await EvaluationCycle.insert(EvaluationCycle(id=cid, template=UUID(FIELD), team=team["id"], kind="month",
                                                         period=month, state="rating", rating_due=due,
                                                         opened_at=clock.now()))
            reps = await User.select(User.id).where((User.team == team["id"]) & (User.role == "rep"))
            rows = [RaterAssignment(id=uuid4(), cycle=cid, ratee=r["id"], rater=r["id"], role="self") for r in reps]
            if lead:
                rows += [RaterAssignment(id=uuid4(), cycle=cid, ratee=r["id"], rater=lead["manager"], role="manager")
                         for r in reps]
            if rows:
                await RaterAssignment.insert(*rows)
        out["reps"] = await User.count().where(User.role == "rep")
        out["cycles"] = await EvaluationCycle.count()

        async def floor():
            await Score.raw(FLOOR_ORDERS.replace("{reps}", ""), start, end)
            await Score.raw(FLOOR_VISITS.replace("{reps}", ""), start, end)

        await floor()
        out["floor"] = stats(await timed(floor, args.runs * 3))
        ctx = JobContext(slot=clock.now(), settings=settings, trigger="bench")
        counts = await jobs.compute_scores(ctx)
        out["counts"] = counts
        out["compute"] = stats(await timed(lambda: jobs.compute_scores(ctx), args.runs))
        # The scorecard of rep1: their team's cycle closed (final) and published.
        rep1 = await User.select(User.id, User.team).where(User.username == "rep1").first()
        cycle = await EvaluationCycle.select(EvaluationCycle.id).where(EvaluationCycle.team == rep1["team"]).first()
        await scores.compute(cycle["id"], final=True, peer_min=settings.evaluation_peer_min)
        await EvaluationCycle.update({EvaluationCycle.state: "published"}).where(EvaluationCycle.id == cycle["id"])
        score = await Score.select(Score.id).where((Score.cycle == cycle["id"]) & (Score.rep == rep1["id"])).first()
        out["score_id"] = str(score["id"])
    finally:
        await db.close(engine)
    return out


def page(env: dict, workdir: Path, name: str, score_id: str, args) -> dict:
    path = f"/evaluation/scores/{score_id}"
    with uvicorn("bench._timed:fieldpace", env, workdir / f"app-{name}.log") as app:
        client = sign_in(app, "rep1")
        try:
            server_timings(app)  # clear
            lat = latency(client, path, args.requests, 5, budget_s=120)
            lat.update(server_side(app, path, lat["n"]))
            return lat
        finally:
            client.close()


def report(name: str, r: dict) -> None:
    log("")
    log(f"{name} — month {r['month']}, {r['reps']} reps in {r['cycles']} cycles:")
    log(f"  {'what':<58} {'p50 ms':>9} {'p95 ms':>9}")
    log(f"  {'floor: month orders + visits by rep (bare SQL)':<58} {r['floor']['p50_ms']:9.1f} {r['floor']['p95_ms']:9.1f}")
    log(f"  {'every provisional score (evaluation.scores)':<58} {r['compute']['p50_ms']:9.1f} {r['compute']['p95_ms']:9.1f}")
    p = r["page"]
    nan = float("nan")
    log(f"  {'scorecard page, in server':<58} {p.get('server_p50_ms', nan):9.1f} {p.get('server_p95_ms', nan):9.1f}")
    log(f"  {'scorecard page, round trip':<58} {p['p50_ms']:9.1f} {p['p95_ms']:9.1f}")


def run(name: str, url: str, env: dict, workdir: Path, args) -> dict:
    r = asyncio.run(in_process(url, workdir / "d", args))
    r["page"] = page(env, workdir, name, r["score_id"], args)
    report(name, r)
    return r


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
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.days, args.runs, args.requests = min(args.reps, 100), min(args.days, 90), 2, 50
    m = machine()
    log(f"Machine: {m['cpus']} CPUs, {m['cpu_model'] or 'unknown CPU'}, Python {m['python']}, {m['platform']}; "
        f"load average {m['load_avg'][0]}")
    result: dict = {"machine": m, "scale": {"reps": args.reps, "days": args.days}, "engines": {}}
    with tempfile.TemporaryDirectory(prefix="fieldpace-bench-scores-") as tmp:
        workdir = Path(tmp)
        db_path, meta = prepare_database(args, workdir)
        result["data"] = meta
        for name in [e.strip() for e in args.engines.split(",") if e.strip()]:
            if name == "sqlite":
                result["engines"]["sqlite"] = run("SQLite", f"sqlite:///{db_path}", env_for(workdir / "run", db_path),
                                                  workdir, args)
                continue
            dbname = f"fieldpace_bench_scores_{os.getpid()}"
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
                result["engines"]["postgres"] = run("PostgreSQL", url, env, workdir, args)
            finally:
                asyncio.run(pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
    log("")
    verdicts = {}
    for name, r in result["engines"].items():
        if "skipped" in r:
            continue
        verdicts[f"{name}_compute"] = ok = r["compute"]["p95_ms"] < COMPUTE_TARGET_S * 1000
        log(f"{'PASS' if ok else 'MISS'}  {name}: every rep's provisional score p95 {r['compute']['p95_ms'] / 1000:.2f} s "
            f"(floor {r['floor']['p50_ms']:.0f} ms; target < {COMPUTE_TARGET_S:.0f} s)")
        server_p95 = r["page"].get("server_p95_ms", float("inf"))
        verdicts[f"{name}_page"] = ok = server_p95 < PAGE_TARGET_MS
        log(f"{'PASS' if ok else 'MISS'}  {name}: scorecard page p95 {server_p95:.1f} ms in server"
            f" (target < {PAGE_TARGET_MS:.0f} ms)")
    result["pass"] = verdicts
    result["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, ensure_ascii=False, sort_keys=True, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
