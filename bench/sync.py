"""Sync throughput: offline outboxes pushed through the real endpoint, on SQLite and PostgreSQL.

    .venv/bin/python bench/sync.py            # 50 devices x 200 visit mutations, batches of 50, both engines
    .venv/bin/python bench/sync.py --quick    # 8 devices x 40 mutations, batches of 10: a smoke run (~50 s)
    .venv/bin/python bench/sync.py --engines sqlite --concurrency 16

Targets (see docs/benchmarks.md), per engine:
  1. first push of 10,000 visit mutations (50 reps, each its own device and customers, batches of 50):
     at least 5,000 mutations/s through POST /api/v1/sync/push;
  2. a full replay of the same batches (every mutation a duplicate) at least 2x faster than the first push;
  3. zero duplicates: the database holds exactly the 10,000 visits sent (ids counted), each device's
     last_seq equals its number of mutations;
  4. a rep's offline data set (their customers, 90 days of visits and reports) pulled with
     GET /api/v1/sync/pull?cursor=0&limit=1000 in under 300 ms (p95).

Per engine the bench makes a fresh database (a SQLite file in a temporary directory; for PostgreSQL a new
database on the server of `--postgres`, dropped at the end; skipped with a notice when unreachable),
applies the migrations (`python -m server.cli migrate`), loads the demo company (`server.demo`: one
password hash for everyone, 90 days of history), serves the app with uvicorn (one worker, as `fieldpace
serve` does, wrapped by bench/_timed.py for in-server times), signs every device in through the login form
(CSRF cookie and `_csrf_token`) and pushes each device's outbox in order, one batch at a time and the next
only after the reply, with `--concurrency` devices at once. The raw floor is the same number of visit rows
inserted through the same driver (aiosqlite / asyncpg), 50 rows per transaction, one connection, with the
server stopped. All traffic goes to 127.0.0.1; every loop is bounded.

Output: readable lines, then as the last line one JSON object with every figure. The exit code is 0 even
when a target is missed (PASS/MISS is printed); it is 1 only when the bench itself could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import log, machine, pct
from server.demo import DEMO_PASSWORD
from server.testing import ServerProcess, sign_in_async
from sync.protocol import PROTOCOL_VERSION, SCHEMA_VERSION

TARGET_MUTATIONS_PER_S = 5000.0
TARGET_REPLAY_SPEEDUP = 2.0
TARGET_PULL_MS = 300.0
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
SENT_AT_MARK = "@@sent_at@@"
SENT_AT_MARK_BYTES = SENT_AT_MARK.encode()
PURPOSES = ("first_visit", "follow_up", "demo", "negotiation", "collection", "after_sales")
OUTCOMES = ["客户对新产品很感兴趣,约定下周演示。", "拜访采购负责人,确认了年度需求量。", "完成产品演示,技术部门认可。",
            "催收上月货款,客户承诺月底前付清。", "Met the buyer; samples next week."]
VISIT_COLUMNS = ("id", "rep", "customer", "purpose", "checkin_at", "checkout_at", "visit_date", "latitude",
                 "longitude", "accuracy_m", "outcome", "next_step", "next_step_date", "satisfaction", "created_at",
                 "server_seq", "device_time", "received_at", "clock_skew_s")


# ------------------------------------------------------------------------------------------ engines


class Sqlite:
    name = "sqlite"

    def __init__(self, workdir: Path):
        self.path = workdir / "fieldpace.sqlite3"
        self.url = f"sqlite:///{self.path}"

    def create(self) -> None:
        pass

    def drop(self) -> None:
        pass

    def query(self, sql: str) -> list[tuple]:
        con = sqlite3.connect(self.path)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    async def floor(self, rows: list[tuple], batch: int) -> float:
        """Seconds to insert `rows` into `visit`, `batch` rows per transaction, one aiosqlite connection."""
        import aiosqlite

        sql = f"INSERT INTO visit ({', '.join(VISIT_COLUMNS)}) VALUES ({', '.join('?' * len(VISIT_COLUMNS))})"
        rows = [tuple(str(v) if isinstance(v, uuid.UUID) else (v.isoformat() if hasattr(v, "isoformat") else v)
                      for v in row) for row in rows]
        async with aiosqlite.connect(self.path, timeout=15) as con:
            await con.execute("PRAGMA foreign_keys = 1")
            start = time.perf_counter()
            for i in range(0, len(rows), batch):
                await con.execute("BEGIN IMMEDIATE")
                await con.executemany(sql, rows[i:i + batch])
                await con.commit()
            return time.perf_counter() - start


class Postgres:
    name = "postgres"

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.db = f"fieldpace_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.url = urlunparse(urlparse(admin_url)._replace(path=f"/{self.db}"))

    @staticmethod
    async def _exec(url: str, sql: str, fetch: bool = False):
        import asyncpg

        con = await asyncpg.connect(url, timeout=5)
        try:
            return [tuple(r) for r in await con.fetch(sql)] if fetch else await con.execute(sql)
        finally:
            await con.close()

    def reachable(self) -> str:
        try:
            asyncio.run(self._exec(self.admin_url, "SELECT 1"))
            return ""
        except Exception as e:  # any failure means "skip PostgreSQL"
            return f"{type(e).__name__}: {e}"

    def create(self) -> None:
        asyncio.run(self._exec(self.admin_url, f'CREATE DATABASE "{self.db}"'))

    def drop(self) -> None:
        asyncio.run(self._exec(self.admin_url, f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)'))

    def query(self, sql: str) -> list[tuple]:
        return asyncio.run(self._exec(self.url, sql, fetch=True))

    async def floor(self, rows: list[tuple], batch: int) -> float:
        """Seconds to insert `rows` into `visit`, `batch` rows per transaction, one asyncpg connection."""
        import asyncpg

        sql = (f"INSERT INTO visit ({', '.join(VISIT_COLUMNS)}) "
               f"VALUES ({', '.join(f'${i + 1}' for i in range(len(VISIT_COLUMNS)))})")
        con = await asyncpg.connect(self.url)
        try:
            start = time.perf_counter()
            for i in range(0, len(rows), batch):
                async with con.transaction():
                    await con.executemany(sql, rows[i:i + batch])
            return time.perf_counter() - start
        finally:
            await con.close()


# --------------------------------------------------------------------------------------------- data


def env_for(data_dir: Path, url: str) -> dict:
    env = dict(os.environ)
    env.update({"FIELDPACE_DATA_DIR": str(data_dir), "FIELDPACE_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"})
    env.pop("FIELDPACE_DEBUG", None)
    return env


def prepare(engine, env: dict, args) -> dict:
    """Migrate and load the demo company; returns reps (username -> id, customer ids) and timings."""
    def cli(*argv):
        done = subprocess.run([sys.executable, "-m", "server.cli", *argv], cwd=ROOT, env=env, capture_output=True,
                              text=True)
        if done.returncode:
            raise RuntimeError(f"server.cli {argv[0]} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")

    t0 = time.perf_counter()
    cli("migrate")
    t1 = time.perf_counter()
    cli("demo-data", "--reps", str(args.devices), "--days", str(args.history_days), "--customers", str(args.customers))
    t2 = time.perf_counter()
    users = engine.query("SELECT id, username FROM app_user WHERE role = 'rep'")
    by_id = {str(uid): name for uid, name in users}
    customers: dict[str, list[str]] = {name: [] for name in by_id.values()}
    for cid, owner in engine.query("SELECT id, owner FROM customer"):
        customers[by_id[str(owner)]].append(str(cid))
    visits = {by_id[str(rep)]: n for rep, n in engine.query("SELECT rep, count(*) FROM visit GROUP BY rep")}
    history = engine.query("SELECT (SELECT count(*) FROM customer), (SELECT count(*) FROM visit), "
                           "(SELECT count(*) FROM report)")[0]
    return {
        "reps": {name: {"id": uid, "customers": customers[name], "history_visits": visits.get(name, 0)}
                 for uid, name in by_id.items()},
        "migrate_s": round(t1 - t0, 2), "demo_s": round(t2 - t1, 2),
        "history": {"customers": history[0], "visits": history[1], "reports": history[2]},
    }


def outbox(rng: random.Random, customers: list[str], n: int) -> list[dict]:
    """A device's queued visit mutations, seq 1..n, made over the last few days (never in the future)."""
    now = datetime.now(UTC)
    mutations = []
    for seq in range(1, n + 1):
        checkin = now - timedelta(minutes=rng.randint(60, 5 * 24 * 60))
        located = rng.random() > 0.1
        mutations.append({
            "seq": seq, "kind": "visit.create", "record_id": str(uuid.uuid4()),
            "client_time": (checkin + timedelta(minutes=50)).isoformat(),
            "payload": {
                "customer": rng.choice(customers), "purpose": rng.choice(PURPOSES),
                "checkin_at": checkin.isoformat(), "checkout_at": (checkin + timedelta(minutes=45)).isoformat(),
                "latitude": 31.2 + rng.random() / 5 if located else None,
                "longitude": 121.4 + rng.random() / 5 if located else None,
                "accuracy_m": float(rng.randint(5, 80)) if located else None,
                "outcome": rng.choice(OUTCOMES), "next_step": "发送报价单",
                "next_step_date": (checkin + timedelta(days=3)).date().isoformat(),
                "satisfaction": rng.choice([None, 3, 4, 5]),
            },
        })
    return mutations


def floor_rows(devices: list[dict], first_seq: int) -> list[tuple]:
    """The same visits as the outboxes, as the server would write them, with new ids (the originals exist)."""
    now = datetime.now(UTC)
    rows = []
    seq = first_seq
    for d in devices:
        rep = uuid.UUID(d["rep_id"])
        for m in d["mutations"]:
            p = m["payload"]
            checkin = datetime.fromisoformat(p["checkin_at"])
            seq += 1
            rows.append((
                uuid.uuid4(), rep, uuid.UUID(p["customer"]), p["purpose"], checkin,
                datetime.fromisoformat(p["checkout_at"]), checkin.date(), p["latitude"], p["longitude"],
                p["accuracy_m"], p["outcome"], p["next_step"], datetime.fromisoformat(p["next_step_date"]).date(),
                p["satisfaction"], now, seq, datetime.fromisoformat(m["client_time"]), now, 0,
            ))
    return rows


# ------------------------------------------------------------------------------------------ servers


class Server(ServerProcess):
    """uvicorn serving the real app (through bench/_timed.py), as `fieldpace serve` does; started at once."""

    def __init__(self, env: dict, logfile: Path):
        # Devices sign in one after another (argon2) and then sit idle until the pushes start;
        # uvicorn's default 5 s keep-alive would close their connections under them.
        super().__init__(env, logfile, "bench._timed:fieldpace", factory=True,
                         uvicorn_args=["--timeout-keep-alive", "300"])
        self.logfile = logfile
        self.start()

    @property
    def base(self) -> str:
        return self.base_url

    def cpu_s(self) -> float:
        """CPU seconds (user + system, every thread) the server process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def timings(self) -> list[list]:
        return httpx.get(self.base + "/__bench/timings", timeout=10).json()


# ------------------------------------------------------------------------------------------ clients


async def sign_in(base: str, username: str, limits: httpx.Limits) -> httpx.AsyncClient:
    """A device signed in through the login form; its client sends the CSRF header (server.testing)."""
    return await sign_in_async(base, username, DEMO_PASSWORD, limits=limits)


async def sign_in_all(base: str, usernames: list[str]) -> dict[str, httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)  # one connection per phone
    sem = asyncio.Semaphore(4)

    async def one(name):
        async with sem:
            return name, await sign_in(base, name, limits)

    return dict(await asyncio.gather(*(one(n) for n in usernames)))


async def push_all(devices: list[dict], clients: dict, batch: int, concurrency: int, expect: str,
                   server: Server | None = None) -> dict:
    """Every device sends its outbox in order, a batch at a time; `concurrency` devices at once. Also the
    CPU time the server and this client used meanwhile (they share the machine's cores)."""
    queue: asyncio.Queue = asyncio.Queue()
    for d in devices:
        queue.put_nowait(d)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    last_seqs: dict[str, int] = {}

    # A phone encodes its outbox on its own CPU; here the client shares the server's cores, so each batch
    # is encoded once, before the clock starts, exactly as httpx's `json=` would (compact, UTF-8), and
    # only its `sent_at` is filled in at send time.
    bodies = {}
    for d in devices:
        for i in range(0, len(d["mutations"]), batch):
            body = {"protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION, "device_id": d["device_id"],
                    "sent_at": SENT_AT_MARK, "mutations": d["mutations"][i:i + batch]}
            bodies[d["device_id"], i] = json.dumps(body, ensure_ascii=False, separators=(",", ":"),
                                                   allow_nan=False).encode()
    headers = {"content-type": "application/json"}

    async def worker():
        while True:
            try:
                d = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            client = clients[d["username"]]
            for i in range(0, len(d["mutations"]), batch):
                sent_at = datetime.now(UTC).isoformat().encode()
                content = bodies[d["device_id"], i].replace(SENT_AT_MARK_BYTES, sent_at, 1)
                t0 = time.perf_counter()
                r = await client.post("/api/v1/sync/push", content=content, headers=headers)
                reply = r.json()
                latencies.append((time.perf_counter() - t0) * 1000.0)
                if r.status_code != 200 or reply.get("status") != "ok":
                    raise RuntimeError(f"push answered HTTP {r.status_code}: {r.text[:300]}")
                for res in reply["results"]:
                    statuses[res["status"]] = statuses.get(res["status"], 0) + 1
                last_seqs[d["device_id"]] = reply["last_seq"]

    server_cpu, client_cpu = server.cpu_s() if server else 0.0, time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    server_cpu, client_cpu = (server.cpu_s() if server else 0.0) - server_cpu, time.process_time() - client_cpu
    total = sum(len(d["mutations"]) for d in devices)
    unexpected = {k: v for k, v in statuses.items() if k != expect}
    return {"seconds": round(elapsed, 3), "mutations": total, "mutations_per_s": total / elapsed,
            "server_cpu_ms_per_batch": server_cpu * 1000 / max(1, len(latencies)),
            "client_cpu_ms_per_batch": client_cpu * 1000 / max(1, len(latencies)),
            "batches": len(latencies), "p50_ms": pct(latencies, 0.5), "p95_ms": pct(latencies, 0.95),
            "max_ms": max(latencies), "statuses": statuses, "unexpected": unexpected, "last_seqs": last_seqs}


async def pull_latency(base: str, client: httpx.AsyncClient, n: int, warmup: int) -> dict:
    url = "/api/v1/sync/pull?cursor=0&limit=1000"
    times = []
    body = {}
    for i in range(warmup + n):
        t0 = time.perf_counter()
        r = await client.get(url)
        body = r.json()
        if r.status_code != 200:
            raise RuntimeError(f"pull answered HTTP {r.status_code}: {r.text[:300]}")
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000.0)
    kinds: dict[str, int] = {}
    for c in body["changes"]:
        kinds[c["type"]] = kinds.get(c["type"], 0) + 1
    return {"n": len(times), "p50_ms": pct(times, 0.5), "p95_ms": pct(times, 0.95), "max_ms": max(times),
            "changes": len(body["changes"]), "by_type": kinds, "more": body["more"], "bytes": len(r.content)}


# --------------------------------------------------------------------------------------------- run


def run_engine(engine, workdir: Path, args) -> dict:
    log("")
    log(f"== {engine.name} ==")
    engine.create()
    try:
        data_dir = workdir / engine.name
        data_dir.mkdir()
        env = env_for(data_dir, engine.url)
        data = prepare(engine, env, args)
        h = data["history"]
        log(f"  setup: migrate {data['migrate_s']:.1f} s, demo data {data['demo_s']:.1f} s ({args.devices} reps x "
            f"{args.history_days} days: {h['customers']:,} customers, {h['visits']:,} visits, {h['reports']:,} reports)")
        rng = random.Random(args.seed)
        names = sorted(data["reps"], key=lambda n: int(n[3:]))[: args.devices]
        devices = [{"username": n, "rep_id": data["reps"][n]["id"], "device_id": str(uuid.uuid4()),
                    "mutations": outbox(rng, data["reps"][n]["customers"], args.per_device)} for n in names]
        total = sum(len(d["mutations"]) for d in devices)
        # The pull: the rep with the largest history (the heaviest offline data set of the company).
        pull_rep = max(names, key=lambda n: data["reps"][n]["history_visits"])
        server = Server(env, workdir / f"{engine.name}-server.log")
        try:
            async def online():
                t0 = time.perf_counter()
                clients = await sign_in_all(server.base, names)
                signin_s = time.perf_counter() - t0
                try:
                    first = await push_all(devices, clients, args.batch, args.concurrency, "applied", server)
                    replay = await push_all(devices, clients, args.batch, args.concurrency, "duplicate", server)
                    server.timings()  # clear
                    pull = await pull_latency(server.base, clients[pull_rep], args.pull_requests, 5)
                    in_server = [t for p, t in server.timings() if p == "/api/v1/sync/pull"][-pull["n"]:]
                    pull.update({"server_p50_ms": pct(in_server, 0.5), "server_p95_ms": pct(in_server, 0.95)})
                    return signin_s, first, replay, pull
                finally:
                    await asyncio.gather(*(c.aclose() for c in clients.values()))

            signin_s, first, replay, pull = asyncio.run(online())
        except Exception:
            log(f"  server log (tail):\n{server.logfile.read_text()[-3000:]}")
            raise
        finally:
            server.stop()
        log(f"  signed in {len(names)} devices in {signin_s:.1f} s (argon2 verify per sign-in, 4 at a time)")
        for label, r in (("first push", first), ("replay", replay)):
            log(f"  {label:<11} {r['mutations']:,} mutations in {r['batches']} batches of {args.batch}, "
                f"{args.concurrency} devices at once: {r['seconds']:.2f} s = {r['mutations_per_s']:,.0f} mutations/s; "
                f"batch p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, max {r['max_ms']:.1f} ms; {r['statuses']}; "
                f"CPU per batch: server {r['server_cpu_ms_per_batch']:.1f} ms, client {r['client_cpu_ms_per_batch']:.1f} ms")

        # Exactly once: the rows in the database, by id.
        sent = {m["record_id"] for d in devices for m in d["mutations"]}
        got = [str(r[0]) for r in engine.query("SELECT id FROM visit WHERE received_at IS NOT NULL")]
        last = {str(k): v for k, v in engine.query("SELECT id, last_seq FROM device")}
        rows_ok = len(got) == total and set(got) == sent
        seqs_ok = all(last.get(d["device_id"]) == len(d["mutations"]) for d in devices) and len(last) == len(devices)
        log(f"  database: {len(got):,} pushed visit rows for {total:,} mutations sent "
            f"({len(set(got) - sent)} unknown ids, {len(sent - set(got))} missing); "
            f"device last_seq all = {args.per_device}: {'yes' if seqs_ok else 'NO'}")
        hv = data["reps"][pull_rep]["history_visits"]
        log(f"  pull as {pull_rep} ({len(data['reps'][pull_rep]['customers'])} customers, {hv} visits of history "
            f"(~{hv / args.history_days:.1f}/day) + {args.per_device} pushed): {pull['changes']} changes {pull['by_type']}, "
            f"{pull['bytes'] / 1024:.0f} KB; p50 {pull['p50_ms']:.1f} ms, p95 {pull['p95_ms']:.1f} ms "
            f"(in-server p50 {pull['server_p50_ms']:.1f}, p95 {pull['server_p95_ms']:.1f}) over {pull['n']} requests")

        # The raw floor, with the server stopped: the same rows through the same driver, 50 per transaction.
        next_seq = engine.query("SELECT value FROM sync_counter WHERE id = 1")[0][0]
        rows = floor_rows(devices, next_seq)
        floor_s = asyncio.run(engine.floor(rows, args.batch))
        floor_rate = len(rows) / floor_s
        ratio = first["mutations_per_s"] / floor_rate
        log(f"  raw floor: {len(rows):,} visit rows in {len(rows) // args.batch} transactions of {args.batch} through "
            f"{'aiosqlite' if engine.name == 'sqlite' else 'asyncpg'} (one connection, no HTTP): {floor_s:.2f} s = "
            f"{floor_rate:,.0f} rows/s; first push is {ratio:.2f} x the floor")
        r1 = functools.partial(round, ndigits=1)
        return {
            "mutations": total, "devices": len(devices), "batch": args.batch, "concurrency": args.concurrency,
            "push_mutations_per_s": round(first["mutations_per_s"]), "push_s": first["seconds"],
            "push_p50_ms": r1(first["p50_ms"]), "push_p95_ms": r1(first["p95_ms"]),
            "replay_mutations_per_s": round(replay["mutations_per_s"]), "replay_s": replay["seconds"],
            "replay_p50_ms": r1(replay["p50_ms"]), "replay_p95_ms": r1(replay["p95_ms"]),
            "push_server_cpu_ms_per_batch": r1(first["server_cpu_ms_per_batch"]),
            "push_client_cpu_ms_per_batch": r1(first["client_cpu_ms_per_batch"]),
            "replay_server_cpu_ms_per_batch": r1(replay["server_cpu_ms_per_batch"]),
            "replay_client_cpu_ms_per_batch": r1(replay["client_cpu_ms_per_batch"]),
            "replay_speedup": round(replay["mutations_per_s"] / first["mutations_per_s"], 2),
            "push_statuses": first["statuses"], "replay_statuses": replay["statuses"],
            "rows_in_db": len(got), "rows_expected": total, "exactly_once": rows_ok and not first["unexpected"]
            and not replay["unexpected"], "last_seq_ok": seqs_ok,
            "floor_rows_per_s": round(floor_rate), "floor_s": round(floor_s, 3), "push_vs_floor": round(ratio, 3),
            "pull_rep": pull_rep, "pull_changes": pull["changes"], "pull_by_type": pull["by_type"],
            "pull_kb": round(pull["bytes"] / 1024, 1), "pull_history_visits": hv,
            "pull_p50_ms": r1(pull["p50_ms"]), "pull_p95_ms": r1(pull["p95_ms"]),
            "pull_server_p50_ms": r1(pull["server_p50_ms"]), "pull_server_p95_ms": r1(pull["server_p95_ms"]),
            "signin_s": round(signin_s, 1), "migrate_s": data["migrate_s"], "demo_s": data["demo_s"],
            "history": data["history"],
        }
    finally:
        engine.drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=50, help="reps, each with one device")
    parser.add_argument("--per-device", type=int, default=200, help="visit mutations in each device's outbox")
    parser.add_argument("--batch", type=int, default=50, help="mutations per push")
    parser.add_argument("--concurrency", type=int, default=12, help="devices pushing at the same time")
    parser.add_argument("--customers", type=int, default=20, help="customers per rep")
    parser.add_argument("--history-days", type=int, default=90, help="days of demo history per rep")
    parser.add_argument("--pull-requests", type=int, default=30)
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--postgres", default=os.environ.get("FIELDPACE_BENCH_POSTGRES_URL", PG_DEFAULT),
                        help="a PostgreSQL URL whose user may CREATE DATABASE")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="8 devices x 40 mutations, 30 days: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.devices, args.per_device, args.history_days = min(args.devices, 8), min(args.per_device, 40), 30
        args.batch, args.concurrency, args.pull_requests = min(args.batch, 10), min(args.concurrency, 4), 10

    m = machine()
    log(f"Machine: {m['cpus']} CPUs, {m['cpu_model'] or 'unknown CPU'}, Python {m['python']}, {m['platform']}")
    try:
        log(f"Load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    except OSError:
        pass
    log(f"Scale: {args.devices} devices x {args.per_device} visit mutations = {args.devices * args.per_device:,}, "
        f"batches of {args.batch}, {args.concurrency} devices at once; {args.history_days} days of history")
    result: dict = {"machine": m, "scale": {k: getattr(args, k) for k in (
        "devices", "per_device", "batch", "concurrency", "customers", "history_days", "pull_requests", "seed")},
        "engines": {}, "skipped": {}}
    targets = {"mutations_per_s_min": TARGET_MUTATIONS_PER_S, "replay_speedup_min": TARGET_REPLAY_SPEEDUP,
               "pull_p95_ms_max": TARGET_PULL_MS}
    with tempfile.TemporaryDirectory(prefix="fieldpace-sync-bench-") as tmp:
        workdir = Path(tmp)
        for name in [e.strip() for e in args.engines.split(",") if e.strip()]:
            if name == "sqlite":
                engine = Sqlite(workdir)
            elif name == "postgres":
                engine = Postgres(args.postgres)
                why = engine.reachable()
                if why:
                    log("")
                    log(f"== postgres == SKIPPED: {args.postgres} is not reachable ({why})")
                    result["skipped"]["postgres"] = why
                    continue
            else:
                raise RuntimeError(f"unknown engine {name!r}")
            result["engines"][name] = run_engine(engine, workdir, args)

    log("")
    full = args.devices * args.per_device == 10_000 and args.batch == 50
    note = "" if full else "  [smoke scale; the targets are for 10,000 mutations in batches of 50]"
    verdicts: dict = {}
    for name, e in result["engines"].items():
        v = {
            "push": e["push_mutations_per_s"] >= TARGET_MUTATIONS_PER_S,
            "replay": e["replay_speedup"] >= TARGET_REPLAY_SPEEDUP,
            "exactly_once": e["exactly_once"] and e["last_seq_ok"],
            "pull": e["pull_p95_ms"] < TARGET_PULL_MS,
        }
        verdicts[name] = v
        def ok(b: bool) -> str:
            return "PASS" if b else "MISS"

        log(f"{ok(v['push'])}  {name}: first push {e['push_mutations_per_s']:,} mutations/s "
            f"(target >= {TARGET_MUTATIONS_PER_S:,.0f}; floor {e['floor_rows_per_s']:,} rows/s, "
            f"ratio {e['push_vs_floor']:.2f}){note}")
        log(f"{ok(v['replay'])}  {name}: replay {e['replay_mutations_per_s']:,} mutations/s = "
            f"{e['replay_speedup']:.2f} x the first push (target >= {TARGET_REPLAY_SPEEDUP:g} x)")
        log(f"{ok(v['exactly_once'])}  {name}: {e['rows_in_db']:,} rows for {e['rows_expected']:,} mutations, ids equal "
            f"the set sent, every device's last_seq = {args.per_device} (target: zero duplicates, none lost)")
        log(f"{ok(v['pull'])}  {name}: pull of {e['pull_rep']}'s offline data set ({e['pull_changes']} changes) "
            f"p95 {e['pull_p95_ms']:.1f} ms (in-server {e['pull_server_p95_ms']:.1f} ms; target < {TARGET_PULL_MS:.0f} ms)")
    result.update({"targets": targets, "pass": verdicts})
    print(json.dumps(result, ensure_ascii=False, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.CalledProcessError, httpx.HTTPError) as e:
        print(f"bench/sync.py could not run: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
