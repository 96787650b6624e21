"""Once across processes: real server processes (uvicorn, as `fieldpace serve` starts them) and a
`fieldpace worker`, on one PostgreSQL database and on one SQLite file, with a frequent test schedule
(`jobs.heartbeat` every 2 s). Every slot runs exactly once, and every queued notification reaches the local
push receiver exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import timedelta

import http_ece
import pytest

from server.settings import ROOT
from server.testing import free_port
from tests import factories
from tests.conftest import PG_URL, _pg_admin, _with_db, migrate
from tests.integration.test_push import Receiver

HEARTBEAT = 2
NOTIFICATIONS = 60

SEED = """
import asyncio, json, os, sys
from uuid import uuid4
from server import clock, db
from server.settings import Settings
from tests import factories
from server.notifications import services
from server.notifications.services import NewNotification
from server.notifications.tables import PushSubscription

async def main():
    engine = db.make_engine(Settings.from_env().effective_database_url)
    db.bind(engine)
    await db.prepare(engine)
    rep = await factories.user("rep", username="pushee")
    await PushSubscription.insert(PushSubscription(id=uuid4(), owner=rep, endpoint=os.environ["EP"],
        p256dh=os.environ["P256DH"], auth=os.environ["AUTH"], label="t", created_at=clock.now()))
    items = [NewNotification(rep, "test", "test", f"s{i}", "p", "l", {}, "/inbox") for i in range(COUNT)]
    ids = []
    for start in range(0, len(items), 10):  # in small groups, while the senders are already polling
        ids += await services.notify(items[start:start + 10])
        await asyncio.sleep(0.05)
    print(json.dumps([str(i) for i in ids]))
    await db.close(engine)

asyncio.run(main())
sys.stdout.flush()
os._exit(0)
""".replace("COUNT", str(NOTIFICATIONS))

QUERY = """
import asyncio, json, os, sys
from server import db
from server.settings import Settings

async def main():
    engine = db.make_engine(Settings.from_env().effective_database_url)
    db.bind(engine)
    await db.prepare(engine)
    from server.jobs.tables import JobRun
    from server.notifications.tables import PushDelivery
    runs = await JobRun.select(JobRun.slot, JobRun.runner, JobRun.outcome).where(JobRun.job == "jobs.heartbeat")
    states = await PushDelivery.select(PushDelivery.state, PushDelivery.attempts)
    print(json.dumps({"runs": [[r["slot"].isoformat(), r["runner"], r["outcome"]] for r in runs],
                      "states": [[d["state"], d["attempts"]] for d in states]}))
    await db.close(engine)

asyncio.run(main())
sys.stdout.flush()
os._exit(0)
"""


def _python(code: str, env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _wait_healthy(port: int, proc: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"no healthy server on {port}:\n{log.read_text()}")


def run_processes(url: str, tmp_path, servers: int, workers: int):
    receiver = Receiver()
    key, p256dh, secret, auth = factories.browser_keys()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPACE_")}
    env.update({
        "FIELDPACE_DATABASE_URL": url, "FIELDPACE_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT),
        "FIELDPACE_HEARTBEAT_SECONDS": str(HEARTBEAT), "FIELDPACE_SCHEDULER_TICK_SECONDS": "0.1",
        "FIELDPACE_PUSH_POLL_SECONDS": "0.1", "FIELDPACE_VAPID_SUBJECT": "mailto:ops@fieldpace.example",
        "EP": receiver.url("/ok/phone"), "P256DH": p256dh, "AUTH": auth,
    })
    procs = []
    try:
        for i in range(servers):
            port = free_port()
            log = tmp_path / f"server{i}.log"
            with log.open("w") as out:
                proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port)], env=env,
                                        cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
            procs.append(proc)
            _wait_healthy(port, proc, log)
        for i in range(workers):
            with (tmp_path / f"worker{i}.log").open("w") as out:
                procs.append(subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], env=env, cwd=ROOT,
                                              stdout=out, stderr=subprocess.STDOUT))
        started = time.time()
        ids = json.loads(_python(SEED, env).strip().splitlines()[-1])
        assert len(ids) == NOTIFICATIONS
        deadline = time.time() + 60
        while time.time() < deadline and (len(receiver.requests) < NOTIFICATIONS or time.time() - started < 4 * HEARTBEAT + 1):
            time.sleep(0.2)
        time.sleep(0.5)
        assert all(p.poll() is None for p in procs), "a process died: see its log in " + str(tmp_path)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        receiver.close()
    seen = []
    for req in receiver.requests:
        plain = http_ece.decrypt(req["body"], private_key=key, auth_secret=secret, version="aes128gcm")
        seen.append(json.loads(plain)["id"])
    state = json.loads(_python(QUERY, env).strip().splitlines()[-1])
    return ids, seen, state


def check(ids, seen, state):
    assert sorted(seen) == sorted(ids), f"{len(seen)} pushes for {len(ids)} notifications"  # each exactly once
    assert all(s == ["sent", 1] for s in state["states"]), state["states"]
    from datetime import datetime

    slots = sorted(datetime.fromisoformat(s) for s, _runner, _outcome in state["runs"])
    assert len(slots) >= 3, slots
    assert len(set(slots)) == len(slots)
    # No slot missing between the first and the last, each run once and finished.
    assert all(b - a == timedelta(seconds=HEARTBEAT) for a, b in zip(slots, slots[1:])), slots
    assert all(outcome == "ok" for _s, _r, outcome in state["runs"])
    return {runner for _s, runner, _o in state["runs"]}


def test_two_processes_on_one_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    migrate(url)
    ids, seen, state = run_processes(url, tmp_path, servers=2, workers=0)
    check(ids, seen, state)


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL not configured: set FIELDPACE_TEST_POSTGRES_URL")
def test_two_servers_and_a_worker_on_one_postgresql_database(tmp_path):
    name = f"fieldpace_once_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _pg_admin(PG_URL, f'CREATE DATABASE "{name}"')
    try:
        url = _with_db(PG_URL, name)
        migrate(url)
        ids, seen, state = run_processes(url, tmp_path, servers=2, workers=1)
        check(ids, seen, state)
    finally:
        _pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
