"""Schemathesis against the published OpenAPI document of /api/v1, signed in as a rep with the CSRF header
set: not one 5xx. On SQLite and PostgreSQL, a bounded number of cases per operation
(`FIELDPACE_FUZZ_EXAMPLES`, default 120 in each of the coverage and fuzzing phases: about 200 cases per operation)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests import factories
from tests.integration import live

EXAMPLES = os.environ.get("FIELDPACE_FUZZ_EXAMPLES", "120")


def test_the_published_openapi_document_describes_the_api_and_its_problems(client):
    doc = client.get("/schema/openapi.json").json()
    assert doc["openapi"].startswith("3.") and doc["paths"]
    assert all(path.startswith("/api/v1/") for path in doc["paths"])
    assert {"/api/v1/customers", "/api/v1/sync/push", "/api/v1/sync/pull"} <= set(doc["paths"])
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status"}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status in ("401", "404", "422"):
                content = operation["responses"][status]["content"]
                assert "application/problem+json" in content, (method, path, status)
            if method == "post":
                assert {"session": [], "csrf": []} in operation["security"], (method, path)


def test_schemathesis_finds_no_server_error(client, world, settings, database_urls, engine_name, tmp_path):
    client.run(factories.visit(world.rep, world.customer))
    with live.served(database_urls[engine_name], settings.data_dir) as base:
        with httpx.Client(base_url=base) as http:
            http.get("/login")
            r = http.post("/login", data={"username": "rep_a1", "password": factories.PASSWORD,
                                          "_csrf_token": http.cookies["fieldpace_csrf"]})
            assert r.status_code == 303, r.text[:300]
            session, csrf = http.cookies["fieldpace_session"], http.cookies["fieldpace_csrf"]
        # One worker: with two, Hypothesis describes schemathesis's filter lambdas with ast.parse in two
        # threads at once, which CPython 3.11 answers with "AST constructor recursion depth mismatch".
        done = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", f"{base}/schema/openapi.json",
             "--checks", "not_a_server_error", "--max-examples", EXAMPLES, "--phases", "coverage,fuzzing",
             "--header", f"Cookie: fieldpace_session={session}; fieldpace_csrf={csrf}", "--header", f"X-CSRFToken: {csrf}",
             "--generation-with-security-parameters", "false", "--suppress-health-check", "all",
             "--workers", "1", "--no-color", "--seed", "20261201", "--generation-database", "none",
             "--request-timeout", "30"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
        )
        # Still signed in at the end: the cases ran as the rep, not as a stranger answered 401.
        assert httpx.get(f"{base}/api/v1/customers", cookies={"fieldpace_session": session}).status_code == 200
    output = done.stdout + done.stderr
    print("\n".join(line for line in output.splitlines() if "generated" in line or "Tested" in line))
    assert done.returncode == 0, output[-6000:] + "\n" + live.server_log(settings.data_dir)[-4000:]
    assert "passed" in output and "generated" in output, output[-2000:]
    assert "Traceback" not in live.server_log(settings.data_dir)
