"""Shared helpers of the benchmarks (bench/pages.py, bench/pace.py): the demo database at a scale (cached
under bench/out/), the app under uvicorn, signing in, timing and percentiles, the machine.

Not a benchmark by itself: `python bench/_common.py` does nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from server import testing
from server.demo import DEMO_PASSWORD
from server.testing import ServerProcess, server_env

# Every table the demo generator writes, parents first.
DEMO_TABLES = ("team", "app_user", "team_manager", "customer", "visit", "report", "report_event", "opportunity",
               "opportunity_stage", "sales_order", "order_split", "collection", "target_plan", "kpi_target")


def log(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------------------------- data


def company_today() -> str:
    from server import clock
    from server.settings import Settings

    clock.configure(Settings.from_env().timezone)
    return clock.today().isoformat()


def schema_key() -> str:
    """A hash of what shapes the cached data: the migrations and the demo generator."""
    h = hashlib.sha256()
    for p in [*sorted((ROOT / "migrations").glob("*.py")), ROOT / "server" / "demo.py"]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:10]


def env_for(data_dir: Path, db: Path | str) -> dict:
    """The app's environment: a data directory and a database (a SQLite file's path, or a URL); the
    caller's other FIELDPACE_* settings (the time zone, ...) are kept, FIELDPACE_DEBUG is not; no scheduler."""
    # Page and sync timings measure requests alone, not the scheduler's jobs beside them.
    return server_env(f"sqlite:///{db}" if isinstance(db, Path) else db, data_dir, inherit_settings=True,
                      scheduler="false")


def count_rows(db_path: Path, tables=DEMO_TABLES) -> dict:
    con = sqlite3.connect(db_path)
    try:
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def checkpoint(db_path: Path) -> None:
    """Fold the WAL into the main file, so the one file is the whole database."""
    con = sqlite3.connect(db_path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


async def generate(args, db_path: Path) -> None:
    """`fieldpace demo-data` in-process, into the SQLite file at `db_path`."""
    from server import clock, db, demo
    from server.settings import Settings

    clock.configure(Settings.from_env().timezone)
    engine = db.make_engine(f"sqlite:///{db_path}")
    db.bind(engine)
    try:
        await demo.generate(reps=args.reps, days=args.days, customers_per_rep=args.customers, seed=args.seed,
                            team_size=getattr(args, "team_size", None))
    finally:
        await db.close(engine)


def prepare_database(args, workdir: Path, tables=DEMO_TABLES) -> tuple[Path, dict]:
    """The demo database at the requested scale, copied into `workdir`/run: from the cache under
    bench/out/ (keyed by scale, seed, team size, company day and a hash of migrations/ and
    server/demo.py), or generated and cached."""
    today = company_today()
    team = f"-t{args.team_size}" if getattr(args, "team_size", None) else ""
    scale = f"fieldpace-{args.reps}x{args.days}-c{args.customers}-s{args.seed}{team}"
    key = f"{scale}-{today}-{schema_key()}"
    cached, meta_path = OUT / f"{key}.sqlite3", OUT / f"{key}.json"
    if cached.exists() and meta_path.exists() and not args.fresh:
        meta = json.loads(meta_path.read_text())
        meta["cached"] = True
        log(f"Data: cached {cached.relative_to(ROOT)}")
    else:
        OUT.mkdir(parents=True, exist_ok=True)
        for old in OUT.glob(f"{scale}-*"):
            if re.fullmatch(rf"{re.escape(scale)}-\d{{4}}-\d\d-\d\d-[0-9a-f]+\.(sqlite3|json|tmp)", old.name):
                old.unlink()  # an older company day or schema of the same scale
        gen_dir = workdir / "gen"
        gen_db = gen_dir / "fieldpace.sqlite3"
        env = env_for(gen_dir, gen_db)
        log(f"Data: generating {args.reps} reps x {args.days} days ({args.customers} customers per rep"
            f"{f', teams of {args.team_size}' if team else ''})…")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "server.cli", "migrate"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        t1 = time.perf_counter()
        load0 = os.getloadavg()[0]
        asyncio.run(generate(args, gen_db))
        t2 = time.perf_counter()
        checkpoint(gen_db)
        rows = count_rows(gen_db, tables)
        total = sum(rows.values())
        meta = {
            "key": key, "company_day": today, "migrate_s": round(t1 - t0, 2), "generate_s": round(t2 - t1, 2),
            "rows": rows, "rows_total": total, "rows_per_s": round(total / max(t2 - t1, 1e-9)),
            "db_mb": round(gen_db.stat().st_size / 1e6, 1), "cached": False,
            "load_avg": [round(load0, 2), round(os.getloadavg()[0], 2)],
        }
        tmp = cached.with_suffix(".tmp")
        shutil.copyfile(gen_db, tmp)
        tmp.replace(cached)
        meta_path.write_text(json.dumps(meta, indent=2))
    log(f"  generation: {meta['generate_s']:.1f} s for {meta['rows_total']:,} rows "
        f"({meta['rows_per_s']:,} rows/s){' (when cached)' if meta['cached'] else ''}; "
        f"migrate {meta['migrate_s']:.1f} s; database {meta['db_mb']} MB")
    log("  rows: " + ", ".join(f"{t} {n:,}" for t, n in meta["rows"].items()))
    run_dir = workdir / "run"
    run_dir.mkdir(exist_ok=True)
    db = run_dir / "fieldpace.sqlite3"
    shutil.copyfile(cached, db)
    return db, meta


# ------------------------------------------------------------------------------------------ servers


@contextmanager
def uvicorn(factory: str, env: dict, logfile: Path, ready_path: str = "/healthz"):
    """Serve an ASGI factory like `fieldpace serve` does (server.testing.ServerProcess: one worker, log
    level warning); yields its base URL."""
    with ServerProcess(env, logfile, factory, factory=True, ready_path=ready_path) as server:
        yield server.base_url


def server_timings(base: str) -> list[list]:
    return httpx.get(base + "/__bench/timings", timeout=10).json()


# ------------------------------------------------------------------------------------------ clients


CLIENT_OPTIONS = {"headers": {"Accept-Encoding": "gzip"}, "follow_redirects": False, "timeout": 60.0}


def new_client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, **CLIENT_OPTIONS)


def sign_in(base: str, username: str) -> httpx.Client:
    """A client signed in as a demo user through the login form (server.testing.sign_in)."""
    return testing.sign_in(base, username, DEMO_PASSWORD, **CLIENT_OPTIONS)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def latency(client: httpx.Client, url: str, n: int, warmup: int, budget_s: float) -> dict:
    """Sequential requests on one keep-alive connection: n timed after `warmup` untimed ones."""
    for _ in range(warmup):
        r = client.get(url)
        if r.status_code != 200:
            raise RuntimeError(f"{url} answered {r.status_code}")
    times = []
    deadline = time.monotonic() + budget_s
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(url)
        _ = r.content
        times.append((time.perf_counter() - t0) * 1000.0)
        if r.status_code != 200:
            raise RuntimeError(f"{url} answered {r.status_code}")
        if time.monotonic() > deadline:
            break
    return {"n": len(times), "p50_ms": pct(times, 0.5), "p95_ms": pct(times, 0.95), "max_ms": max(times),
            "mean_ms": statistics.fmean(times), "bytes": len(r.content)}


def server_side(base: str, path: str, n: int) -> dict:
    """In-server times of the last `n` requests to `path` (what the app itself spent)."""
    times = [t for p, t in server_timings(base) if p == path][-n:]
    if not times:
        return {}
    return {"server_p50_ms": pct(times, 0.5), "server_p95_ms": pct(times, 0.95), "server_max_ms": max(times)}


# --------------------------------------------------------------------------------------------- machine


def machine() -> dict:
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "")
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform(), "load_avg": [round(x, 2) for x in os.getloadavg()]}


if __name__ == "__main__":
    print("bench/_common.py holds helpers of bench/pages.py and bench/pace.py; nothing to run.")
