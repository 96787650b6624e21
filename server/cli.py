"""The `fieldpace` command line: serve, migrate, demo-data, create-user, worker, jobs."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from server.settings import Settings


def _engine(settings: Settings):
    from server import db

    engine = db.make_engine(settings.effective_database_url)
    db.bind(engine)
    return engine


async def migrate() -> bool:
    """Apply pending migrations (Piccolo reads the database from FIELDPACE_DATABASE_URL)."""
    os.environ.setdefault("PICCOLO_CONF", "server.piccolo_conf")
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from server import db

    settings = Settings.from_env()
    await db.prepare(_engine(settings), pool=False)
    result = await run_forwards(app_name="fieldpace")
    return result.success


async def _demo(args, settings: Settings) -> int:
    from server import clock, demo

    clock.configure(settings.timezone)
    _engine(settings)
    if not await demo.is_empty():
        if args.if_empty:
            print("The database already has data: demo data not loaded again.")
            print(f"Demo logins, if it holds the demo company (password: {demo.DEMO_PASSWORD}): "
                  "admin, manager1, manager2, rep1 …")
            return 0
        print("The database is not empty; demo data goes into an empty database only.", file=sys.stderr)
        return 1
    if args.reps < 1 or args.days < 1 or args.customers < 1 or (args.team_size is not None and args.team_size < 1):
        print("--reps, --days, --customers and --team-size must be at least 1.", file=sys.stderr)
        return 2
    counts = await demo.generate(reps=args.reps, days=args.days, customers_per_rep=args.customers, seed=args.seed,
                                 team_size=args.team_size)
    last_manager = counts.get("teams", 2)
    print(f"Demo logins (password: {demo.DEMO_PASSWORD}): admin, manager1 … manager{last_manager}, "
          f"rep1 … rep{args.reps} (rep1 is ahead of plan, rep2 behind, rep3 improving)")
    return 0


async def _create_user(args, settings: Settings) -> int:
    from server.accounts import services
    from server.accounts.tables import Team
    from server.web import FieldErrors

    _engine(settings)
    password = args.password or getpass.getpass("Password: ")
    team_id = ""
    if args.team:
        row = await Team.select(Team.id).where(Team.name == args.team).first()
        if not row:
            print(f"No team named {args.team!r}.", file=sys.stderr)
            return 1
        team_id = str(row["id"])
    try:
        await services.create_user(None, {
            "username": args.username, "display_name": args.name or args.username, "password": password,
            "role": args.role, "team": team_id,
        })
    except FieldErrors as e:
        for field, message in e.errors.items():
            print(f"{field}: {message}", file=sys.stderr)
        return 1
    print(f"Created {args.role} {args.username}.")
    return 0


async def _worker(settings: Settings) -> int:
    """The scheduler and the push delivery queue in a process of their own, until SIGTERM or Ctrl+C."""
    import signal

    from server import clock, db, i18n
    from server.jobs.runtime import Background

    clock.configure(settings.timezone)
    i18n.configure(settings.currency)
    engine = _engine(settings)
    await db.prepare(engine)
    background = Background(settings)
    task = asyncio.get_running_loop().create_task(background.run())
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    print("Fieldpace worker: scheduler and push delivery running (Ctrl+C to stop)", flush=True)
    try:
        await task
    except asyncio.CancelledError:
        pass
    return 0


async def _jobs(args, settings: Settings) -> int:
    from server import clock, db, i18n
    from server.jobs import registry
    from server.jobs.services import run_now

    clock.configure(settings.timezone)
    i18n.configure(settings.currency)
    if args.jobs_command == "list":
        for job in registry.registered(settings):
            print(f"{job.name:24} {job.schedule.describe():28} {job.description}")
        return 0
    await db.prepare(_engine(settings))
    done = await run_now(settings, args.name, trigger="command")
    if done is None:
        print(f"No job named {args.name!r}: `fieldpace jobs list` shows them.", file=sys.stderr)
        return 1
    run_id, outcome = done
    from server.jobs.tables import JobRun

    row = await JobRun.select(JobRun.counts, JobRun.error).where(JobRun.id == run_id).first()
    print(f"{args.name}: {outcome} {row['counts'] if row else ''}")
    if outcome != "ok" and row:
        print(row["error"], file=sys.stderr)
    return 0 if outcome == "ok" else 1


async def _closing(work):
    """Run a command, then close every engine's kept connections so the process can exit."""
    from server import db

    try:
        return await work
    finally:
        engines = {}
        try:
            engines[id(db.current())] = db.current()
        except RuntimeError:
            pass  # the command bound no engine
        if "server.piccolo_conf" in sys.modules:
            conf = sys.modules["server.piccolo_conf"].DB
            engines[id(conf)] = conf
        for engine in engines.values():
            await db.close(engine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fieldpace", description="Fieldpace sales performance app")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the app (uvicorn)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=1)
    sub.add_parser("migrate", help="apply database migrations")
    demo = sub.add_parser("demo-data", help="load demo data into an empty database")
    demo.add_argument("--reps", type=int, default=8)
    demo.add_argument("--days", type=int, default=365, help="days of history up to today")
    demo.add_argument("--customers", type=int, default=40, help="customers per rep")
    demo.add_argument("--team-size", type=int, default=None,
                      help="reps per team (default: all reps in two teams)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--if-empty", action="store_true", help="do nothing (and succeed) when data exists")
    cu = sub.add_parser("create-user", help="create a user")
    cu.add_argument("username")
    cu.add_argument("--name", default="")
    cu.add_argument("--role", choices=["rep", "manager", "admin"], default="rep")
    cu.add_argument("--team", default="", help="team name (for reps)")
    cu.add_argument("--password", default="", help="prompted for when omitted")
    sub.add_parser("worker", help="run the job scheduler and the push delivery queue (no web server)")
    jobs = sub.add_parser("jobs", help="scheduled jobs")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    jobs_sub.add_parser("list", help="list the scheduled jobs")
    jobs_run = jobs_sub.add_parser("run", help="run one job once, now")
    jobs_run.add_argument("name")
    args = parser.parse_args(argv)
    settings = Settings.from_env()

    if args.command == "migrate":
        return 0 if asyncio.run(_closing(migrate())) else 1
    if args.command == "demo-data":
        return asyncio.run(_closing(_demo(args, settings)))
    if args.command == "create-user":
        return asyncio.run(_closing(_create_user(args, settings)))
    if args.command == "worker":
        return asyncio.run(_closing(_worker(settings)))
    if args.command == "jobs":
        return asyncio.run(_closing(_jobs(args, settings)))
    if args.command == "serve":
        import uvicorn

        host, port = args.host or settings.host, args.port or settings.port
        print(f"Fieldpace is running at http://{host}:{port}  (Ctrl+C to stop)", flush=True)
        uvicorn.run("server.asgi:app", host=host, port=port, workers=args.workers, log_level="warning",
                    proxy_headers=True)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
