"""The real app under uvicorn, for tests that need real server processes (several on one database, or a
fuzzer speaking HTTP). Each server gets a free port; stopped when the `with` block ends."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from server.settings import ROOT


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(database_url: str, data_dir: Path, **settings: str) -> Iterator[str]:
    """`uvicorn server.asgi:app` on `database_url` (already migrated); yields the base URL. `settings` are
    extra FIELDPACE_* variables, e.g. LOGIN_MAX_ATTEMPTS="3"."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPACE_")}
    env.update({"FIELDPACE_DATA_DIR": str(data_dir), "FIELDPACE_DATABASE_URL": database_url,
                "FIELDPACE_DEFAULT_LOCALE": "en", "FIELDPACE_TIMEZONE": "Asia/Shanghai", "PYTHONPATH": str(ROOT)})
    env.update({f"FIELDPACE_{k.upper()}": v for k, v in settings.items()})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / f"uvicorn-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "server.asgi:app", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not become healthy:\n{log.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def server_log(data_dir: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(data_dir.glob("uvicorn-*.log")))
