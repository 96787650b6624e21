"""server/testing.py against the real app: start on a free port, ready on /healthz, stop, kill, a taken port."""

from __future__ import annotations

import signal
import socket

import httpx

from server import testing


def test_start_stop_kill_and_a_port_taken_meanwhile(tmp_path, monkeypatch):
    env = testing.server_env(f"sqlite:///{tmp_path / 'empty.sqlite3'}", tmp_path / "data")
    log = tmp_path / "server.log"

    with testing.ServerProcess(env, log) as server:
        assert httpx.get(server.base_url + "/healthz").json()["status"] == "ok"
    assert server.proc is not None and server.proc.returncode is not None  # stopped on leaving the block

    server.start()  # the same object starts again (a restart in a fault test)
    assert server.kill() == -signal.SIGKILL
    try:
        httpx.get(server.base_url + "/healthz", timeout=2.0)
        raise AssertionError("a killed server still answered")
    except httpx.TransportError:
        pass

    # Someone binds the chosen port before uvicorn does: the helper moves to another port.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1]])
        real_free_port = testing.free_port
        monkeypatch.setattr(testing, "free_port", lambda: next(ports, None) or real_free_port())
        with testing.ServerProcess(env, log) as server:
            assert server.port != taken.getsockname()[1]
            assert httpx.get(server.base_url + "/healthz").status_code == 200
    assert b"address already in use" in log.read_bytes().lower()
