"""api/redis_api: what Heroku's redis:* commands ask of a heroku-redis add-on, as herokusim's own
sub-resources of the add-on (Heroku serves them from its Redis API):

    GET   /apps/{app}/addons/{addon}/redis-info        redis:info's lines
    GET   /apps/{app}/addons/{addon}/redis-cli          how redis:cli reaches the server (argv and env)
    POST  /apps/{app}/addons/{addon}/redis-cli          {"command": ["GET", "k"]}: one command's reply
    PATCH /apps/{app}/addons/{addon}/redis-maxmemory    {"policy": "allkeys-lru"}: redis:maxmemory

`{addon}` is the add-on's id or name, or an attachment name on the app (REDIS, REDIS_URL). The handlers call
the started provider (addons/redis.py) through platform.addons.provider_of.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.addons.provider import AddonError
from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of
from herokusim.errors import InvalidParams
from herokusim.store.models import Addon

if TYPE_CHECKING:
    from herokusim.platform import Platform

routes = web.RouteTableDef()
REDIS = "heroku-redis"


async def _redis(request: web.Request) -> tuple[Platform, Addon, Any]:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    addon = await platform.addons.find(request.match_info["addon"], app)
    if addon.service != REDIS:
        raise InvalidParams(f"{addon.name} is a {addon.service} add-on, not a Heroku Key-Value Store "
                            "(heroku-redis) one.")
    try:
        provider = await platform.addons.provider_of(addon)
    except AddonError as exc:
        raise InvalidParams(str(exc)) from None
    return platform, addon, provider


async def _head(platform: Platform, addon: Addon) -> dict[str, Any]:
    attachments = [a for a in await platform.store.list_attachments(addon_id=addon.id) if a.app_id == addon.app_id]
    config_vars = [var for a in attachments for var in platform.addons.config_of(addon, a.name)]
    return {"addon": {"id": addon.id, "name": addon.name}, "config_vars": config_vars}


@routes.get("/apps/{app}/addons/{addon}/redis-info")
async def redis_info(request: web.Request) -> web.Response:
    platform, addon, provider = await _redis(request)
    try:
        lines = await provider.info(addon.provider_id)
    except AddonError as exc:
        raise InvalidParams(str(exc)) from None
    return json_response({**await _head(platform, addon),
                          "info": [{"name": label, "value": value} for label, value in lines]})


@routes.get("/apps/{app}/addons/{addon}/redis-cli")
async def redis_cli_connection(request: web.Request) -> web.Response:
    platform, addon, provider = await _redis(request)
    try:
        argv, env = provider.cli_argv(addon.provider_id), provider.cli_env(addon.provider_id)
    except AddonError as exc:
        raise InvalidParams(str(exc)) from None
    return json_response({**await _head(platform, addon), "argv": argv, "env": env})


@routes.post("/apps/{app}/addons/{addon}/redis-cli")
async def redis_cli_command(request: web.Request) -> web.Response:
    platform, addon, provider = await _redis(request)
    body = await read_body(request)
    command = body.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command) \
            or not command[0].strip():
        raise InvalidParams('command must be a non-empty list of strings: {"command": ["GET", "key"]}.')
    try:
        output = await provider.run_command(addon.provider_id, command)
    except AddonError as exc:
        raise InvalidParams(str(exc)) from None
    return json_response({**await _head(platform, addon), "output": output})


@routes.patch("/apps/{app}/addons/{addon}/redis-maxmemory")
async def redis_maxmemory(request: web.Request) -> web.Response:
    platform, addon, provider = await _redis(request)
    body = await read_body(request)
    policy = body.get("policy")
    if not isinstance(policy, str) or not policy.strip():
        raise InvalidParams('policy is required: {"policy": "allkeys-lru"}.')
    try:
        description = await provider.set_policy(addon.provider_id, policy)
    except AddonError as exc:
        raise InvalidParams(str(exc)) from None
    return json_response({**await _head(platform, addon), "policy": policy.strip().lower(),
                          "description": description})
