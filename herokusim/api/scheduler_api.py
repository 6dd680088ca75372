"""api/scheduler_api: Heroku Scheduler's jobs of an app, herokusim's own resource (Heroku keeps them in the
Scheduler add-on's dashboard): `/apps/{app}/scheduler-jobs[/{id}]` over platform.scheduler
(addons/scheduler.py's JobRunner). Every call needs the app's scheduler add-on (422 saying how to add it).

    POST  /apps/{app}/scheduler-jobs        {"command": "python task.py", "every": "1h", "at": ":30",
                                             "dyno_size": "basic"}
    PATCH /apps/{app}/scheduler-jobs/{id}   any of those fields
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.addons.scheduler import describe, iso
from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of
from herokusim.errors import InvalidParams
from herokusim.store.models import App, SchedulerJob

if TYPE_CHECKING:
    from herokusim.platform import Platform

routes = web.RouteTableDef()
FIELDS = ("command", "every", "at", "dyno_size")


def job_json(platform: Platform, app: App, job: SchedulerJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "app": {"id": app.id, "name": app.name},
        "command": job.command,
        "every": job.every,
        "at": job.at,
        "schedule": describe(job.every, job.at),
        "dyno_size": job.dyno_size,
        "next_due": iso(platform.scheduler.next_due(job)),
        "last_run_at": job.last_run_at,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }


async def _fields(request: web.Request) -> dict[str, str | None]:
    body = await read_body(request)
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InvalidParams(f"Unknown field {unknown[0]!r}: a job has command, every, at and dyno_size.")
    found: dict[str, str | None] = {}
    for key in FIELDS:
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidParams(f"{key} must be a string.")
        found[key] = value
    return found


@routes.get("/apps/{app}/scheduler-jobs")
async def list_jobs(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    return json_response([job_json(platform, app, j) for j in await platform.scheduler.jobs(app)])


@routes.post("/apps/{app}/scheduler-jobs")
async def create_job(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    fields = await _fields(request)
    if fields["command"] is None or fields["every"] is None:
        raise InvalidParams('command and every are required: {"command": "python task.py", "every": "10m"}.')
    job = await platform.scheduler.create(app, fields["command"], fields["every"], fields["at"],
                                          fields["dyno_size"])
    return json_response(job_json(platform, app, job), 201)


@routes.get("/apps/{app}/scheduler-jobs/{job}")
async def get_job(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    return json_response(job_json(platform, app, await platform.scheduler.job(app, request.match_info["job"])))


@routes.patch("/apps/{app}/scheduler-jobs/{job}")
async def update_job(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    fields = await _fields(request)
    job = await platform.scheduler.update(app, request.match_info["job"], fields["command"], fields["every"],
                                          fields["at"], fields["dyno_size"])
    return json_response(job_json(platform, app, job))


@routes.delete("/apps/{app}/scheduler-jobs/{job}")
async def delete_job(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    job = await platform.scheduler.delete(app, request.match_info["job"])
    return json_response(job_json(platform, app, job))
