"""api/stack_api: the stack in the Platform API — `GET /stacks` and `GET /stacks/{id_or_name}` in Heroku's shape,
plus herokusim's own `image`: the Docker runtime's stack image and whether it is ready, building or failed
(null on the process runtime, which needs no image)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.api.responses import json_response, platform_of, ranged
from herokusim.config import STACK
from herokusim.dynos.runtime.docker import DockerRuntime
from herokusim.errors import NotFound

if TYPE_CHECKING:
    from herokusim.platform import Platform

STACK_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, f"herokusim:stack:{STACK}"))  # stable, as Heroku's ids are

routes = web.RouteTableDef()


def stack_json(platform: Platform) -> dict[str, Any]:
    image = None
    if isinstance(platform.runtime, DockerRuntime):
        state, detail = platform.runtime.stack.state()
        image = {"tag": platform.runtime.stack.tag, "state": state, "detail": detail}
    return {"id": STACK_ID, "name": STACK, "state": "public", "default": True, "image": image}


@routes.get("/stacks")
async def list_stacks(request: web.Request) -> web.Response:
    return ranged(request, [stack_json(platform_of(request))], "name", ("id", "name"))


@routes.get("/stacks/{stack}")
async def get_stack(request: web.Request) -> web.Response:
    if request.match_info["stack"] not in (STACK, STACK_ID):
        raise NotFound(f"Couldn't find that stack ({request.match_info['stack']}).")
    return json_response(stack_json(platform_of(request)))
