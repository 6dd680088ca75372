"""api/pgfollow_api: heroku-postgresql followers' own operations (Heroku serves them from its Postgres API;
herokusim under the add-on): `GET /apps/{app}/addons/{addon}/pg-wait` (pg:wait: provisioned and, for a
follower, caught up with its leader) and `POST /apps/{app}/addons/{addon}/pg-unfollow` (pg:unfollow: the
follower promoted, writable and independent). Providers: addons/postgres.py and addons/pgfollow.py."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from herokusim.addons.provider import AddonError
from herokusim.api.responses import json_response, platform_of
from herokusim.errors import InvalidParams

routes = web.RouteTableDef()


async def _database(request: web.Request) -> tuple[Any, Any, str]:
    """The add-on, its started provider and its name as pg:* prints it; 422 unless it is a Postgres one."""
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    addon = await platform.addons.find(request.match_info["addon"], app)
    if addon.service != "heroku-postgresql":
        raise InvalidParams(f"{addon.name} is a {addon.service} add-on, not a heroku-postgresql database.")
    try:
        provider = await platform.addons.provider_of(addon)
    except AddonError as exc:
        raise InvalidParams(str(exc)) from None
    return addon, provider, await platform.addons.display_name(addon)


@routes.get("/apps/{app}/addons/{addon}/pg-wait")
async def pg_wait(request: web.Request) -> web.Response:
    """`{"addon": {...}, "database": "HEROKU_POSTGRESQL_AMBER", "waiting": true, "message": "catching up..."}`."""
    addon, provider, name = await _database(request)
    try:
        waiting, message = await provider.wait_status(addon.provider_id)
    except AddonError as exc:
        raise InvalidParams(str(exc)) from None
    return json_response({"addon": {"id": addon.id, "name": addon.name}, "database": name,
                          "waiting": waiting, "message": message})


@routes.post("/apps/{app}/addons/{addon}/pg-unfollow")
async def pg_unfollow(request: web.Request) -> web.Response:
    """`{"addon": {...}, "database": "HEROKU_POSTGRESQL_CHARCOAL", "unfollowed": "HEROKU_POSTGRESQL_AMBER"}`."""
    addon, provider, name = await _database(request)
    try:
        leader = await provider.unfollow(addon.provider_id)
    except AddonError as exc:
        raise InvalidParams(f"{name} {exc}." if str(exc).startswith("this database") else str(exc)) from None
    return json_response({"addon": {"id": addon.id, "name": addon.name}, "database": name, "unfollowed": leader})
