"""api/app_setups_api: `POST /app-setups` and `GET /app-setups/{id}` — Heroku's App Setup API: an app created
from a source tarball and its app.json (herokusim/appsetup.py does the work)."""

from __future__ import annotations

from aiohttp import web

from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of

routes = web.RouteTableDef()


@routes.post("/app-setups")
async def create_app_setup(request: web.Request) -> web.Response:
    platform = platform_of(request)
    setup = await platform.setups.create(await read_body(request))
    return json_response(await platform.setups.to_json(setup), 201)


@routes.get("/app-setups/{id}")
async def get_app_setup(request: web.Request) -> web.Response:
    platform = platform_of(request)
    return json_response(await platform.setups.to_json(platform.setups.get(request.match_info["id"])))
