"""Pace at scale: the full pace computation and a 50-rep team's dashboard, against the bare SQL floor.

    .venv/bin/python bench/pace.py                     # 1,000 reps x 365 days, teams of 50, both engines
    .venv/bin/python bench/pace.py --quick             # 100 reps x 90 days, fewer runs: a smoke run
    .venv/bin/python bench/pace.py --engines sqlite    # one engine; --reps, --days, --runs, --requests

Targets (see docs/benchmarks.md, section "Pace"):
  1. full pace computation, every rep and KPI for the current month (`server.targets.pace.compute` as
     admin, in-process): p95 under 2 s on SQLite and on PostgreSQL (over --runs runs);
  2. the manager dashboard of a 50-rep team (GET /dashboard as manager1, real HTTP through uvicorn):
     p95 under 150 ms in-server time (over --requests requests).
Both are reported against the floor: the bare SQL aggregates that read the same rows (the month's order
splits joined to their orders, summed per rep; the month's visits counted per rep), through the same
driver and engine, in the same run; for the dashboard, the same aggregates narrowed to the team's reps.

The demo data is generated once per scale (server.demo, cached as a SQLite file under bench/out/, keyed
by scale, seed, team size, company day and a hash of migrations/ and server/demo.py). PostgreSQL gets
the same rows: a new database fieldpace_bench_pace_<pid> on the --postgres server, migrated, loaded from
the cached file with COPY, analysed, and dropped at the end (skipped with a notice when unreachable).

Output: readable lines, then as the last line one JSON object with every figure. The exit code is 0 even
when a target is missed (PASS/MISS is printed); it is 1 only when the bench itself could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import (
    DEMO_TABLES,
    env_for,
    latency,
    log,
    machine,
    pct,
    prepare_database,
    server_side,
    server_timings,
    sign_in,
    uvicorn,
)

PACE_TARGET_S = 2.0
DASHBOARD_TARGET_MS = 150.0
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

# The floor: the bare aggregates over the rows the month's revenue and visits read.
# Revenue sums the stored credited cents of the order splits and the returns' splits, voided orders left
# out, as the app does (server/targets/actuals.py ORDER_CREDITS), never amount x share.
FLOOR_ORDERS = ("SELECT s.rep AS rep, SUM(s.amount_cents) AS v FROM"
                " (SELECT p.rep AS rep, p.order_date AS day, p.amount_cents AS amount_cents FROM order_split p"
                " JOIN sales_order o ON o.id = p.sales_order WHERE o.voided_at IS NULL"
                " UNION ALL SELECT r.rep, r.return_date, r.amount_cents FROM order_return_split r"
                " JOIN sales_order o ON o.id = r.sales_order WHERE o.voided_at IS NULL) s"
                " WHERE s.day BETWEEN {} AND {}{reps} GROUP BY s.rep")
FLOOR_VISITS = ("SELECT v.rep AS rep, COUNT(*) AS v FROM visit v WHERE v.visit_date BETWEEN {} AND {}{reps}"
                " GROUP BY v.rep")


# ------------------------------------------------------------------------------------- PostgreSQL


def pg_url(base: str, name: str) -> str:
    return urlunparse(urlparse(base)._replace(path=f"/{name}"))


async def pg_admin(base: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(base, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def pg_load(url: str, sqlite_path: Path) -> dict:
    """Copy every demo table from the SQLite file into the migrated PostgreSQL database (COPY, CSV),
    then the sync counter, then ANALYZE. SQLite keeps Piccolo's text forms (UUIDs, ISO dates and
    timestamps with offsets, booleans as 1/0), which PostgreSQL's input functions read as they are."""
    import asyncpg

    src = sqlite3.connect(sqlite_path)
    conn = await asyncpg.connect(url, timeout=10)
    counts = {}
    try:
        for table in DEMO_TABLES:
            columns = [r[1] for r in src.execute(f'PRAGMA table_info("{table}")')]
            cursor = src.execute(f'SELECT {", ".join(chr(34) + c + chr(34) for c in columns)} FROM "{table}"')
            n = 0
            while True:
                rows = cursor.fetchmany(50_000)
                if not rows:
                    break
                buf = io.StringIO()
                writer = csv.writer(buf, lineterminator="\n")
                writer.writerows([["\\N" if v is None else v for v in row] for row in rows])
                await conn.copy_to_table(table, source=io.BytesIO(buf.getvalue().encode()), columns=columns,
                                         format="csv", null="\\N")
                n += len(rows)
            counts[table] = n
        value = src.execute("SELECT value FROM sync_counter WHERE id = 1").fetchone()[0]
        await conn.execute("UPDATE sync_counter SET value = $1 WHERE id = 1", value)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
        src.close()
    return counts


# --------------------------------------------------------------------------------------- in-process


def timed_runs(fn, runs: int, warmup: int, budget_s: float) -> list[float]:
    """ms of `runs` awaited calls of `fn()` after `warmup` untimed ones (bounded by `budget_s`)."""
    async def go():
        for _ in range(warmup):
            await fn()
        times = []
        deadline = time.monotonic() + budget_s
        for _ in range(runs):
            t0 = time.perf_counter()
            await fn()
            times.append((time.perf_counter() - t0) * 1000.0)
            if time.monotonic() > deadline:
                break
        return times
    return go()


def stats(times: list[float]) -> dict:
    return {"n": len(times), "p50_ms": pct(times, 0.5), "p95_ms": pct(times, 0.95), "max_ms": max(times)}


async def in_process(url: str, args) -> dict:
    """Pace for every rep and KPI (admin), and the floors, through the app's own engine."""
    from server import clock, db
    from server.accounts.permissions import load_actor
    from server.accounts.tables import TeamManager, User
    from server.settings import Settings
    from server.targets import formulas
    from server.targets.tables import Kpi

    clock.configure(Settings.from_env().timezone)
    engine = db.make_engine(url)
    db.bind(engine)
    await db.prepare(engine)
    out: dict = {}
    try:
        today = clock.today()
        month = f"{today.year:04d}-{today.month:02d}"
        _kind, start, end = formulas.parse_period(month)
        out["month"] = month
        admin = await User.select(User.id).where(User.username == "admin").first()
        manager = await User.select(User.id).where(User.username == args.manager).first()
        if not admin or not manager:
            raise RuntimeError("the database holds no demo company (admin, manager1)")
        team = await TeamManager.select(TeamManager.team).where(TeamManager.manager == manager["id"]).first()
        members = await User.select(User.id).where((User.team == team["team"]) & (User.role == "rep"))
        team_reps = [r["id"] for r in members]
        out["team_reps"] = len(team_reps)

        async def floor(sql: str, reps: list | None):
            cond = ""
            if reps is not None:
                column = "s.rep" if "order_split" in sql else "v.rep"
                cond = f" AND {column} IN ({', '.join('{}' for _ in reps)})"
            return await Kpi.raw(sql.replace("{reps}", cond), start, end, *(reps or []))

        floors = {}
        for name, sql, reps in (("orders", FLOOR_ORDERS, None), ("visits", FLOOR_VISITS, None),
                                ("team_orders", FLOOR_ORDERS, team_reps), ("team_visits", FLOOR_VISITS, team_reps)):
            rows = await floor(sql, reps)
            times = await timed_runs(lambda sql=sql, reps=reps: floor(sql, reps), args.floor_runs, 2, 120)
            floors[name] = {**stats(times), "rows": len(rows)}
        out["floor"] = floors

        try:
            from server.targets import pace
        except ImportError as e:
            out["pace"] = {"skipped": f"server.targets.pace not importable: {e}"}
        else:
            actor = await load_actor(str(admin["id"]))
            board = await pace.compute(actor, month)
            size = {"reps": len(getattr(board, "reps", []) or []), "kpis": len(getattr(board, "kpis", []) or [])}
            times = await timed_runs(lambda: pace.compute(actor, month), args.runs, 1, 600)
            out["pace"] = {**stats(times), **size}
    finally:
        await db.close(engine)
    return out


# ----------------------------------------------------------------------------------------- dashboard


def dashboard(env: dict, workdir: Path, engine_name: str, args) -> dict:
    with uvicorn("bench._timed:fieldpace", env, workdir / f"app-{engine_name}.log") as app:
        client = sign_in(app, args.manager)
        try:
            r = client.get("/dashboard")
            if r.status_code != 200:
                return {"skipped": f"GET /dashboard answered {r.status_code}"}
            server_timings(app)  # clear
            lat = latency(client, "/dashboard", args.requests, args.warmup, budget_s=300)
            lat.update(server_side(app, "/dashboard", lat["n"]))
            return lat
        finally:
            client.close()


# --------------------------------------------------------------------------------------------- main


def run_engine(engine_name: str, url: str, env: dict, workdir: Path, args) -> dict:
    t0 = time.perf_counter()
    result = asyncio.run(in_process(url, args))
    result["in_process_s"] = round(time.perf_counter() - t0, 1)
    result["dashboard"] = dashboard(env, workdir, engine_name, args)
    f = result["floor"]
    result["floor"]["sum_p50_ms"] = f["orders"]["p50_ms"] + f["visits"]["p50_ms"]
    result["floor"]["team_sum_p50_ms"] = f["team_orders"]["p50_ms"] + f["team_visits"]["p50_ms"]
    return result


def report(engine_name: str, r: dict) -> None:
    f = r["floor"]
    log("")
    log(f"{engine_name} — month {r['month']}, team of {r['team_reps']} reps:")
    log(f"  {'what':<52} {'p50 ms':>9} {'p95 ms':>9}  {'x floor':>8}")
    p = r["pace"]
    if "skipped" in p:
        log(f"  full pace: SKIPPED ({p['skipped']})")
    else:
        log(f"  {'full pace, ' + str(p['reps']) + ' reps x ' + str(p['kpis']) + ' KPIs (in-process)':<52} "
            f"{p['p50_ms']:9.1f} {p['p95_ms']:9.1f}  {p['p50_ms'] / f['sum_p50_ms']:8.1f}")
    for key, label in (("orders", "floor: orders of the month by rep"),
                       ("visits", "floor: visits of the month by rep")):
        log(f"  {label + ' (' + str(f[key]['rows']) + ' reps)':<52} {f[key]['p50_ms']:9.1f} {f[key]['p95_ms']:9.1f}")
    log(f"  {'floor: sum':<52} {f['sum_p50_ms']:9.1f}")
    d = r["dashboard"]
    if "skipped" in d:
        log(f"  team dashboard: SKIPPED ({d['skipped']})")
    else:
        s50, s95 = d.get("server_p50_ms", float("nan")), d.get("server_p95_ms", float("nan"))
        log(f"  {'GET /dashboard, in-server (' + str(d['n']) + ' requests)':<52} {s50:9.1f} {s95:9.1f}  "
            f"{s50 / f['team_sum_p50_ms']:8.1f}")
        log(f"  {'GET /dashboard, client side':<52} {d['p50_ms']:9.1f} {d['p95_ms']:9.1f}   "
            f"({d['bytes'] / 1024:.0f} KB)")
    for key, label in (("team_orders", "team floor: orders by rep"), ("team_visits", "team floor: visits by rep")):
        log(f"  {label:<52} {f[key]['p50_ms']:9.1f} {f[key]['p95_ms']:9.1f}")
    log(f"  {'team floor: sum':<52} {f['team_sum_p50_ms']:9.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--team-size", type=int, default=50)
    parser.add_argument("--customers", type=int, default=40, help="customers per rep")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--manager", default="manager1", help="whose team dashboard is measured")
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="server for the temporary database")
    parser.add_argument("--runs", type=int, default=10, help="timed pace computations per engine")
    parser.add_argument("--floor-runs", type=int, default=30, help="timed runs of each floor query")
    parser.add_argument("--requests", type=int, default=50, help="timed dashboard requests per engine")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="100 reps x 90 days, fewer runs: a smoke run")
    parser.add_argument("--fresh", action="store_true", help="regenerate the data even when cached")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.days = min(args.reps, 100), min(args.days, 90)
        args.runs, args.floor_runs, args.requests, args.warmup = min(args.runs, 5), 10, min(args.requests, 20), 3
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not set(engines) <= {"sqlite", "postgres"}:
        parser.error("--engines takes sqlite and/or postgres")

    m = machine()
    log(f"Machine: {m['cpus']} CPUs, {m['cpu_model'] or 'unknown CPU'}, Python {m['python']}, {m['platform']}; "
        f"load average {m['load_avg'][0]}")
    result: dict = {"machine": m, "scale": {"reps": args.reps, "days": args.days, "team_size": args.team_size,
                                            "customers_per_rep": args.customers, "seed": args.seed},
                    "engines": {}}
    with tempfile.TemporaryDirectory(prefix="fieldpace-bench-pace-") as tmp:
        workdir = Path(tmp)
        db_path, meta = prepare_database(args, workdir)
        result["data"] = meta
        for name in engines:
            if name == "sqlite":
                url = f"sqlite:///{db_path}"
                env = env_for(workdir / "run", db_path)
                result["engines"]["sqlite"] = run_engine("sqlite", url, env, workdir, args)
                report("SQLite", result["engines"]["sqlite"])
                continue
            dbname = f"fieldpace_bench_pace_{os.getpid()}"
            try:
                asyncio.run(pg_admin(args.postgres, f'CREATE DATABASE "{dbname}"'))
            except (OSError, Exception) as e:  # unreachable server, refused auth...
                log(f"\nPostgreSQL: skipped, {args.postgres} unreachable or refused: {e}")
                result["engines"]["postgres"] = {"skipped": str(e)}
                continue
            try:
                url = pg_url(args.postgres, dbname)
                env = env_for(workdir / "run", url)
                t0 = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "server.cli", "migrate"], cwd=ROOT, env=env,
                                      capture_output=True, text=True)
                if done.returncode:
                    raise RuntimeError(f"migrate failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
                counts = asyncio.run(pg_load(url, db_path))
                load_s = time.perf_counter() - t0
                log(f"\nPostgreSQL: database {dbname}: migrated and loaded {sum(counts.values()):,} rows "
                    f"with COPY in {load_s:.1f} s, analysed")
                r = run_engine("postgres", url, env, workdir, args)
                r["load_s"] = round(load_s, 1)
                result["engines"]["postgres"] = r
                report("PostgreSQL", r)
            finally:
                asyncio.run(pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))

    log("")
    scale_note = ("" if (args.reps, args.days) == (1000, 365)
                  else f"  [scale {args.reps}x{args.days}; targets are for 1000x365]")
    verdicts = {}
    for name, r in result["engines"].items():
        if "skipped" in r:
            continue
        p, d = r["pace"], r["dashboard"]
        if "skipped" not in p:
            verdicts[f"{name}_pace"] = ok = p["p95_ms"] < PACE_TARGET_S * 1000
            log(f"{'PASS' if ok else 'MISS'}  {name}: full pace p50 {p['p50_ms'] / 1000:.2f} s, "
                f"p95 {p['p95_ms'] / 1000:.2f} s "
                f"(target < {PACE_TARGET_S:.0f} s){scale_note}")
        if "skipped" not in d and "server_p50_ms" in d:
            verdicts[f"{name}_dashboard"] = ok = d["server_p95_ms"] < DASHBOARD_TARGET_MS
            log(f"{'PASS' if ok else 'MISS'}  {name}: team dashboard in-server p50 {d['server_p50_ms']:.0f} ms, "
                f"p95 {d['server_p95_ms']:.0f} ms (target < {DASHBOARD_TARGET_MS:.0f} ms){scale_note}")
    result["pass"] = verdicts
    result["targets"] = {"pace_s_max": PACE_TARGET_S, "dashboard_ms_max": DASHBOARD_TARGET_MS}
    result["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]

    def rounded(value):
        if isinstance(value, float):
            return round(value, 2)
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return value

    print(json.dumps(rounded(result), ensure_ascii=False, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.CalledProcessError, httpx.HTTPError) as e:
        print(f"bench/pace.py could not run: {e}", file=sys.stderr)
        sys.exit(1)
