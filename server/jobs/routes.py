"""The admin's view of scheduled jobs: next slots, latest runs and their errors, "run now"."""

from __future__ import annotations

from litestar import Request, Router, get, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException

from server.accounts.permissions import Actor, require_role
from server.i18n import _
from server.jobs import services
from server.web import flash, page, redirect


@get("/admin/jobs")
async def admin_jobs(actor: Actor, state: State) -> object:
    require_role(actor, "admin")
    return page("jobs/admin_jobs.html", jobs=await services.overview(actor, state.settings))


@post("/admin/jobs/{name:str}/run")
async def admin_job_run(request: Request, actor: Actor, state: State, name: str) -> object:
    require_role(actor, "admin")
    outcome = await services.admin_run_now(actor, state.settings, name)
    if outcome is None:
        raise NotFoundException()
    if outcome == "ok":
        flash(request, _("The job ran."))
    else:
        flash(request, _("The job failed: its error is below."), "error")
    return redirect("/admin/jobs", request)


router = Router(path="/", route_handlers=[admin_jobs, admin_job_run])
