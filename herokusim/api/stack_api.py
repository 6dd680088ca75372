"""api/stack_api: where apps run, in the Platform API — the stack (`GET /stacks`, `GET /stacks/{id_or_name}`)
in Heroku's shape, plus herokusim's own `image`: the Docker runtime's stack image and whether it is ready,
building or failed (null on the process runtime, which needs no image); and the regions (`GET /regions`,
`GET /regions/{id_or_name}`), Heroku's Common Runtime `us` and `eu`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.api import shapes
from herokusim.api.responses import json_response, platform_of, ranged
from herokusim.config import STACK
from herokusim.dynos.runtime.docker import DockerRuntime
from herokusim.errors import NotFound

if TYPE_CHECKING:
    from herokusim.platform import Platform

routes = web.RouteTableDef()


def _stack_json(platform: Platform) -> dict[str, Any]:
    image = None
    if isinstance(platform.runtime, DockerRuntime):
        state, detail = platform.runtime.stack.state()
        image = {"tag": platform.runtime.stack.tag, "state": state, "detail": detail}
    return shapes.stack_json(image)


@routes.get("/stacks")
async def list_stacks(request: web.Request) -> web.Response:
    return ranged(request, [_stack_json(platform_of(request))], "name", ("id", "name"))


@routes.get("/stacks/{stack}")
async def get_stack(request: web.Request) -> web.Response:
    if request.match_info["stack"] not in (STACK, shapes.STACK_ID):
        raise NotFound(f"Couldn't find that stack ({request.match_info['stack']}).")
    return json_response(_stack_json(platform_of(request)))


@routes.get("/regions")
async def list_regions(request: web.Request) -> web.Response:
    return ranged(request, [shapes.region_json(name) for name in shapes.REGIONS], "name", ("id", "name"))


@routes.get("/regions/{region}")
async def get_region(request: web.Request) -> web.Response:
    wanted = request.match_info["region"]
    for name in shapes.REGIONS:
        if wanted in (name, shapes.stable_id("region", name)):
            return json_response(shapes.region_json(name))
    raise NotFound(f"Couldn't find that region ({wanted}).")
