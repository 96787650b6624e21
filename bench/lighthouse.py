"""Lighthouse 12 (mobile) on the rep screens: performance, accessibility and best practices per screen.

Serves the app (server.testing.ServerProcess) on a small demo company (bench/_common.py's cached database),
signs in as rep1 through the login form and audits each rep screen with the session cookie
(`--extra-headers`), Lighthouse's default mobile profile (simulated slow 4G, 4x CPU slowdown).

Lighthouse is not a dependency of the project. Install it outside the checkout and point at it:

    mkdir -p /tmp/lh && (cd /tmp/lh && npm i -E lighthouse@12.2.3)
    LIGHTHOUSE=/tmp/lh/node_modules/.bin/lighthouse .venv/bin/python bench/lighthouse.py

Without it the script says so and exits 0 (skipped). Prints one line per screen and, last, one JSON line.
Scores move between runs on a loaded machine: compare figures from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import env_for, log, machine, prepare_database, sign_in
from server.testing import SESSION_COOKIE, ServerProcess

CATEGORIES = ("performance", "accessibility", "best-practices")
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu"


def find_lighthouse(given: str) -> str:
    for candidate in (given, os.environ.get("LIGHTHOUSE", ""), "/tmp/lh/node_modules/.bin/lighthouse",
                      shutil.which("lighthouse") or ""):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return ""


def screens(client, today: str) -> list[str]:
    customers = client.get("/api/v1/customers?limit=1").json()
    first = (customers.get("items") or customers.get("customers") or [{}])[0] if isinstance(customers, dict) else {}
    urls = ["/home", "/visits/new", "/customers", "/reports", f"/reports/daily/{today}", "/sales", "/settings",
            "/sync"]
    if first.get("id"):
        urls.insert(3, f"/customers/{first['id']}")
    return urls


def audit(lighthouse: str, url: str, cookie: str, chrome: str, keep: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        command = [lighthouse, url, "--output=json", f"--output-path={out}", "--quiet",
                   f"--chrome-flags={CHROME_FLAGS}", f"--only-categories={','.join(CATEGORIES)}",
                   f"--extra-headers={json.dumps({'Cookie': cookie})}"]
        done = subprocess.run(command, env={**os.environ, "CHROME_PATH": chrome}, capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0 or not out.exists():
            return {"error": (done.stderr or done.stdout)[-500:]}
        report = json.loads(out.read_text())
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out, keep / (url.split("/", 3)[-1].replace("/", "_") + ".json"))
    scores = {c: round((report["categories"][c]["score"] or 0) * 100) for c in CATEGORIES}
    audits = report["audits"]
    metrics = {k: round(audits[k]["numericValue"]) for k in
               ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time", "speed-index")}
    metrics["cumulative-layout-shift"] = round(audits["cumulative-layout-shift"]["numericValue"], 3)
    failing = sorted(k for k, a in audits.items() if a.get("score") is not None and a["score"] < 0.9
                     and a.get("scoreDisplayMode") in ("binary", "numeric", "metricSavings"))
    return {**scores, **metrics, "failing": failing}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lighthouse", default="", help="path of the lighthouse command")
    parser.add_argument("--chrome", default=os.environ.get("CHROME_PATH", "/usr/bin/chromium"))
    parser.add_argument("--only", default="", help="comma-separated paths to audit (default: every rep screen)")
    parser.add_argument("--reports", type=Path, default=None, help="keep each screen's Lighthouse JSON report here")
    args = parser.parse_args()
    lighthouse = find_lighthouse(args.lighthouse)
    if not lighthouse:
        log("SKIPPED: lighthouse not found. Install it outside the checkout (`npm i -E lighthouse@12.2.3` in "
            "/tmp/lh) and set LIGHTHOUSE=/tmp/lh/node_modules/.bin/lighthouse.")
        print(json.dumps({"skipped": "lighthouse not installed"}))
        return 0
    scale = argparse.Namespace(reps=4, days=30, customers=40, seed=7, team_size=None, fresh=False)
    with tempfile.TemporaryDirectory(prefix="fieldpace-lh-") as tmp:
        db, _meta = prepare_database(scale, Path(tmp))
        env = env_for(db.parent, db)
        with ServerProcess(env, Path(tmp) / "uvicorn.log") as server:
            client = sign_in(server.base_url, "rep1")
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            assert SESSION_COOKIE in cookie
            paths = args.only.split(",") if args.only else screens(client, date.today().isoformat())
            results = {}
            for path in paths:
                result = audit(lighthouse, server.base_url + path, cookie, args.chrome, args.reports)
                results[path] = result
                if "error" in result:
                    log(f"{path:32} ERROR {result['error']}")
                    continue
                log(f"{path:32} perf {result['performance']:3}  a11y {result['accessibility']:3}  "
                    f"best {result['best-practices']:3}  FCP {result['first-contentful-paint']} ms  "
                    f"LCP {result['largest-contentful-paint']} ms  TBT {result['total-blocking-time']} ms  "
                    f"CLS {result['cumulative-layout-shift']}  below 0.9: {', '.join(result['failing']) or '-'}")
    print(json.dumps({"lighthouse": "12", "date": date.today().isoformat(), "machine": machine(),
                      "screens": results}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
