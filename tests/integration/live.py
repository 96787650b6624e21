"""The real app under uvicorn for integration tests that need real server processes (several on one
database, or a fuzzer speaking HTTP): `server.testing.ServerProcess`, the one start-up helper, with the
tests' settings. Stopped when the `with` block ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from server.testing import ServerProcess, server_env


@contextlib.contextmanager
def served(database_url: str, data_dir: Path, **settings: str) -> Iterator[str]:
    """`uvicorn server.asgi:app` on `database_url` (already migrated); yields the base URL. `settings` are
    extra FIELDPACE_* settings, e.g. login_max_attempts="4"."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = server_env(database_url, data_dir, **{"default_locale": "en", "timezone": "Asia/Shanghai", **settings})
    with ServerProcess(env, data_dir / "uvicorn.log") as server:
        yield server.base_url


def server_log(data_dir: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(data_dir.glob("uvicorn*.log")))
