"""server/testing.py against the real app: a taken port, ready on /healthz, stop, restart, kill."""

from __future__ import annotations

import signal
import socket

import httpx
import pytest

from server import testing


def test_start_on_a_port_taken_meanwhile_stop_restart_and_kill(tmp_path, monkeypatch):
    env = testing.server_env(f"sqlite:///{tmp_path / 'empty.sqlite3'}", tmp_path / "data")
    log = tmp_path / "server.log"

    # Someone binds the chosen port before uvicorn does: the helper moves to another port.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1]])
        real_free_port = testing.free_port
        monkeypatch.setattr(testing, "free_port", lambda: next(ports, None) or real_free_port())
        with testing.ServerProcess(env, log) as server:
            assert server.port != taken.getsockname()[1]
            assert httpx.get(server.base_url + "/healthz").json()["status"] == "ok"
    assert b"address already in use" in log.read_bytes().lower()
    assert server.proc is not None and server.proc.returncode is not None  # stopped on leaving the block

    server.start()  # the same object starts again, as a fault test restarts its server
    assert httpx.get(server.base_url + "/healthz").status_code == 200
    assert server.kill() == -signal.SIGKILL
    with pytest.raises(httpx.TransportError):
        httpx.get(server.base_url + "/healthz", timeout=2.0)
