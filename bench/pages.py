"""Page budgets: first-load weight of the rep home, and server time of the hot pages at scale.

    .venv/bin/python bench/pages.py            # 50 reps x 365 days (the budget's scale)
    .venv/bin/python bench/pages.py --quick    # small scale, a smoke run in seconds
    .venv/bin/python bench/pages.py --reps 20 --days 90

Budgets (see docs/benchmarks.md):
  1. first load of the rep home, HTML + CSS + JS as transferred (gzip): at most 60 KB;
  2. rep home and manager queue: p95 under 30 ms on SQLite at 50 reps x 365 days.

The bench makes its own data directory and SQLite database, applies the migrations, loads the demo data at
the requested scale (cached under bench/out/, keyed by scale, company day, migrations and server/demo.py,
so reruns are quick), serves the app with uvicorn (one worker, as `fieldpace serve` does) and a bare Litestar
hello-world the same way (the floor), signs in as rep1 and manager1 and measures over loopback with a warm
keep-alive client. Every loop is bounded in count and time; all traffic goes to 127.0.0.1.

Output: readable lines, then as the last line one JSON object with every figure. The exit code is 0 even
when a budget is missed (PASS/MISS is printed); it is 1 only when the bench itself could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gzip
import json
import re
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    env_for,
    latency,
    log,
    machine,
    new_client,
    prepare_database,
    server_side,
    server_timings,
    sign_in,
    uvicorn,
)

FIRST_LOAD_BUDGET_KB = 60.0
P95_BUDGET_MS = 30.0
TABLES = ("team", "app_user", "team_manager", "customer", "visit", "report", "report_event")
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


# ------------------------------------------------------------------------------------------ clients


class Assets(HTMLParser):
    """The stylesheets and scripts a page references, and (for information) its other links."""

    def __init__(self):
        super().__init__()
        self.css: list[str] = []
        self.js: list[str] = []
        self.other: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link" and a.get("href"):
            rels = (a.get("rel") or "").lower().split()
            if "stylesheet" in rels:
                self.css.append(a["href"])
            else:
                self.other.append((" ".join(rels), a["href"]))
        elif tag == "script" and a.get("src"):
            self.js.append(a["src"])


def transfer(client: httpx.Client, url: str) -> dict:
    """GET with gzip and count the body bytes as they came over the wire (before decompression)."""
    with client.stream("GET", url) as r:
        raw = b"".join(r.iter_raw())
        enc = r.headers.get("content-encoding", "identity")
        status = r.status_code
    body = gzip.decompress(raw) if enc == "gzip" else raw
    return {"url": url, "status": status, "encoding": enc, "bytes": len(raw), "decoded_bytes": len(body),
            "text": body.decode("utf-8", "replace")}


def first_load(base: str, rep: httpx.Client) -> dict:
    home = transfer(rep, "/home")
    if home["status"] != 200:
        raise RuntimeError(f"/home answered {home['status']}")
    parser = Assets()
    parser.feed(home["text"])
    fresh = new_client(base)  # static files need no session; a fresh client has no cache either
    items = [{"kind": "html", **home}]
    for kind, urls in (("css", parser.css), ("js", parser.js)):
        for url in urls:
            items.append({"kind": kind, **transfer(fresh, urljoin(base + "/home", url))})
    extras = []
    for rel, url in parser.other + [("service worker (after load)", "/sw.js")]:
        extras.append({"kind": rel, **transfer(fresh, urljoin(base + "/home", url))})
    fresh.close()
    for it in items + extras:
        it.pop("text")
    total = sum(i["bytes"] for i in items)
    return {"items": items, "extras": extras, "total_bytes": total, "total_kb": round(total / 1024, 1),
            "decoded_kb": round(sum(i["decoded_bytes"] for i in items) / 1024, 1)}


async def _throughput(base: str, cookies, url: str, concurrency: int, seconds: float, cap: int) -> dict:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, cookies=cookies, headers={"Accept-Encoding": "gzip"},
                                 limits=limits, timeout=30.0) as client:
        # Open the connections (and warm them) before the clock starts.
        await asyncio.gather(*(client.get(url) for _ in range(concurrency * 2)))
        done = errors = 0
        start = time.perf_counter()
        stop = start + seconds

        async def worker():
            nonlocal done, errors
            while time.perf_counter() < stop and done + errors < cap:
                r = await client.get(url)
                if r.status_code == 200:
                    done += 1
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"requests": done, "errors": errors, "seconds": round(elapsed, 2), "rps": done / elapsed}


def throughput(base, cookies, url, args) -> dict:
    return asyncio.run(_throughput(base, cookies, url, args.concurrency, args.seconds, args.max_requests))


# --------------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--customers", type=int, default=40, help="customers per rep")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="small scale and fewer requests: a smoke run")
    parser.add_argument("--fresh", action="store_true", help="regenerate the data even when cached")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per page (concurrency 1)")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=8, help="clients of the requests/s run")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each requests/s run")
    parser.add_argument("--max-requests", type=int, default=20_000, help="cap of each requests/s run")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.days = min(args.reps, 6), min(args.days, 30)
        args.requests, args.warmup, args.seconds = min(args.requests, 60), min(args.warmup, 10), 1.0

    m = machine()
    log(f"Machine: {m['cpus']} CPUs, {m['cpu_model'] or 'unknown CPU'}, Python {m['python']}, {m['platform']}")
    result: dict = {"machine": m, "scale": {"reps": args.reps, "days": args.days, "customers_per_rep": args.customers,
                                            "seed": args.seed}}
    with tempfile.TemporaryDirectory(prefix="fieldpace-bench-") as tmp:
        workdir = Path(tmp)
        db, meta = prepare_database(args, workdir, TABLES)
        result["data"] = meta
        env = env_for(workdir / "run", db)
        with uvicorn("bench._timed:fieldpace", env, workdir / "app.log") as app, \
                uvicorn("bench._timed:hello", env, workdir / "hello.log", ready_path="/") as hello:
            rep = sign_in(app, "rep1")
            mgr = sign_in(app, "manager1")

            # Budget 1: first load.
            fl = first_load(app, rep)
            log("")
            log("First load of the rep home (transferred body bytes, Accept-Encoding: gzip):")
            for it in fl["items"]:
                log(f"  {it['kind']:<5} {it['url'].replace(app, ''):<32} {it['bytes'] / 1024:7.1f} KB  "
                    f"({it['encoding']}, {it['decoded_bytes'] / 1024:.1f} KB decoded)")
            log(f"  total {fl['total_kb']:.1f} KB transferred ({fl['decoded_kb']:.1f} KB decoded); "
                f"budget {FIRST_LOAD_BUDGET_KB:.0f} KB")
            log("  not counted (not HTML/CSS/JS, or fetched after load):")
            for it in fl["extras"]:
                log(f"    {it['kind']:<28} {it['url'].replace(app, ''):<28} {it['bytes'] / 1024:6.1f} KB ({it['encoding']}, "
                    f"HTTP {it['status']})")
            result["first_load_kb"] = fl["total_kb"]
            result["first_load"] = {i["url"].replace(app, ""): {"kb": round(i["bytes"] / 1024, 2), "encoding": i["encoding"],
                                               "decoded_kb": round(i["decoded_bytes"] / 1024, 2)}
                                    for i in fl["items"]}
            result["first_load_not_counted"] = {i["url"].replace(app, ""): round(i["bytes"] / 1024, 2) for i in fl["extras"]}

            # Budget 2: server time.
            queue_html = mgr.get("/manager/queue").text
            ids = re.findall(rf'href="/reports/({UUID_RE})"', queue_html)
            if not ids:
                raise RuntimeError("the manager queue lists no submitted report")
            pages = [
                ("home", rep, "/home"),
                ("queue", mgr, "/manager/queue"),
                ("report", mgr, f"/reports/{ids[0]}"),
                ("team_visits", mgr, "/team/visits"),
            ]
            hello_client = new_client(hello)
            log("")
            log(f"Latency over loopback, keep-alive, concurrency 1: {args.requests} requests after "
                f"{args.warmup} warm-ups (client-side ms; 'in-server' is the app's own time):")
            log(f"  {'page':<34} {'p50':>7} {'p95':>7} {'max':>7}   {'in-server p50':>13} {'p95':>7}   size")
            figures: dict = {}
            server_timings(app), server_timings(hello)  # clear
            for name, client, url, base in [*(p + (app,) for p in pages), ("hello", hello_client, "/", hello)]:
                lat = latency(client, url, args.requests, args.warmup, budget_s=120)
                lat.update(server_side(base, url, lat["n"]))
                figures[name] = {"url": url, **lat}
                log(f"  {name + ' ' + url:<34.34} {lat['p50_ms']:7.2f} {lat['p95_ms']:7.2f} {lat['max_ms']:7.2f}   "
                    f"{lat.get('server_p50_ms', float('nan')):13.2f} {lat.get('server_p95_ms', float('nan')):7.2f}   "
                    f"{lat['bytes'] / 1024:.1f} KB")
            log("")
            log(f"Requests/s: {args.concurrency} concurrent keep-alive clients for {args.seconds:g} s each "
                f"(client and server share the {m['cpus']} CPUs):")
            for name, client, url, base in [*(p + (app,) for p in pages), ("hello", hello_client, "/", hello)]:
                tp = throughput(base, client.cookies, url, args)
                figures[name].update({"rps": tp["rps"], "rps_requests": tp["requests"], "rps_errors": tp["errors"]})
            server_timings(app), server_timings(hello)
            floor = figures["hello"]["rps"]
            for name, f in figures.items():
                ratio = f["rps"] / floor if floor else float("nan")
                f["vs_hello"] = ratio
                log(f"  {name + ' ' + f['url']:<34.34} {f['rps']:8.0f} req/s  ({ratio:.2f} x hello floor)"
                    f"{'  ERRORS: ' + str(f['rps_errors']) if f['rps_errors'] else ''}")
            hello_client.close()
            rep.close()
            mgr.close()

    log("")
    verdicts = {
        "first_load": fl["total_kb"] <= FIRST_LOAD_BUDGET_KB,
        "home_p95": figures["home"]["p95_ms"] < P95_BUDGET_MS,
        "queue_p95": figures["queue"]["p95_ms"] < P95_BUDGET_MS,
    }
    scale_note = "" if (args.reps, args.days) == (50, 365) else f"  [scale {args.reps}x{args.days}, budget is 50x365]"
    log(f"{'PASS' if verdicts['first_load'] else 'MISS'}  first load of the rep home {fl['total_kb']:.1f} KB "
        f"(budget <= {FIRST_LOAD_BUDGET_KB:.0f} KB)")
    for key, name in (("home_p95", "home"), ("queue_p95", "queue")):
        f = figures[name]
        log(f"{'PASS' if verdicts[key] else 'MISS'}  {f['url']} p95 {f['p95_ms']:.1f} ms "
            f"(in-server {f.get('server_p95_ms', float('nan')):.1f} ms; budget < {P95_BUDGET_MS:.0f} ms){scale_note}")

    r2 = functools.partial(round, ndigits=2)
    result.update({
        "home_p50_ms": r2(figures["home"]["p50_ms"]), "home_p95_ms": r2(figures["home"]["p95_ms"]),
        "queue_p50_ms": r2(figures["queue"]["p50_ms"]), "queue_p95_ms": r2(figures["queue"]["p95_ms"]),
        "hello_p50_ms": r2(figures["hello"]["p50_ms"]), "hello_p95_ms": r2(figures["hello"]["p95_ms"]),
        "hello_rps": round(floor), "home_rps": round(figures["home"]["rps"]),
        "queue_rps": round(figures["queue"]["rps"]),
        "home_vs_hello": r2(figures["home"]["vs_hello"]), "queue_vs_hello": r2(figures["queue"]["vs_hello"]),
        "pages": {k: {kk: (r2(vv) if isinstance(vv, float) else vv) for kk, vv in v.items()}
                  for k, v in figures.items()},
        "budgets": {"first_load_kb_max": FIRST_LOAD_BUDGET_KB, "p95_ms_max": P95_BUDGET_MS},
        "pass": verdicts,
        "generate_s": meta["generate_s"], "rows_per_s": meta["rows_per_s"],
    })
    print(json.dumps(result, ensure_ascii=False, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.CalledProcessError, httpx.HTTPError) as e:
        print(f"bench/pages.py could not run: {e}", file=sys.stderr)
        sys.exit(1)
