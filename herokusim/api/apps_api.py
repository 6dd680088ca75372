"""api/apps_api: apps in the Platform API — the account, `GET/POST /apps`, `GET/PATCH/DELETE /apps/{app}`
(maintenance mode, rename), and the app's config vars."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.api import shapes
from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of, ranged
from herokusim.errors import InvalidParams
from herokusim.store.models import App

if TYPE_CHECKING:
    from herokusim.platform import Platform

routes = web.RouteTableDef()


async def _app_json(platform: Platform, app: App) -> dict[str, Any]:
    releases = await platform.store.list_releases(app.id)
    deployed = [r.slug_id for r in releases if r.slug_id]
    slug = await platform.store.get_slug(app.id, deployed[-1]) if deployed else None
    return shapes.app_json(app, releases, slug, platform.settings, platform.user, platform.runtime.name)


# apps
@routes.get("/account")
async def account(request: web.Request) -> web.Response:
    platform = platform_of(request)
    return json_response(shapes.account_json(platform.user, await platform.store.account_created_at()))


@routes.get("/apps")
async def list_apps(request: web.Request) -> web.Response:
    platform = platform_of(request)
    apps = [await _app_json(platform, a) for a in await platform.store.list_apps()]
    return ranged(request, apps, "id", ("id", "name"))


@routes.post("/apps")
async def create_app(request: web.Request) -> web.Response:
    body = await read_body(request)
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidParams("Name must be a string.")
    platform = platform_of(request)
    app = await platform.create_app(name)
    return json_response(await _app_json(platform, app), 201)


@routes.get("/apps/{app}")
async def get_app(request: web.Request) -> web.Response:
    platform = platform_of(request)
    return json_response(await _app_json(platform, await platform.find_app(request.match_info["app"])))


@routes.patch("/apps/{app}")
async def update_app(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    body = await read_body(request)
    # every field is checked before anything changes
    if "maintenance" in body and not isinstance(body["maintenance"], bool):
        raise InvalidParams("maintenance must be true or false.")
    if "name" in body and not isinstance(body["name"], str):
        raise InvalidParams("Name must be a string.")
    if "name" in body:
        app = await platform.rename_app(app, body["name"])
    if "maintenance" in body:
        app = await platform.set_maintenance(app, body["maintenance"])
    return json_response(await _app_json(platform, app))


@routes.delete("/apps/{app}")
async def destroy_app(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    data = await _app_json(platform, app)
    await platform.destroy_app(app)
    return json_response(data)


# config vars
@routes.get("/apps/{app}/config-vars")
async def get_config(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    return json_response(await platform.store.latest_config(app.id))


@routes.patch("/apps/{app}/config-vars")
async def update_config(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    changes = platform.validate_config(await read_body(request))
    release = await platform.ledger.set_config(app, changes, platform.user)
    # this change's config, not whatever a concurrent change made of it since
    config = release.config if release is not None else await platform.store.latest_config(app.id)
    return json_response(config)
