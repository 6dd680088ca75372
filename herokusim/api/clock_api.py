"""api/clock_api: herokusim's simulated clock in the API — `GET /clock` (its time, scale and timers),
`PATCH /clock` (its scale: `{"scale": 48}` makes a simulated day pass in half an hour) and `POST /clock/warp`
(move simulated time forward; every timer due fires)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.api import shapes
from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of
from herokusim.clock import MAX_SCALE, MAX_WARP, parse_duration
from herokusim.errors import InvalidParams

if TYPE_CHECKING:
    from herokusim.platform import Platform

routes = web.RouteTableDef()


def _clock_json(platform: Platform) -> dict[str, Any]:
    clock = platform.clock
    return shapes.clock_json(clock.now(), clock.scale, len(clock.upcoming()))


# the simulated clock
@routes.get("/clock")
async def get_clock(request: web.Request) -> web.Response:
    return json_response(_clock_json(platform_of(request)))


@routes.patch("/clock")
async def set_clock_scale(request: web.Request) -> web.Response:
    """The clock's speed from now on: {"scale": X} simulated seconds per real second (kept across restarts)."""
    platform = platform_of(request)
    scale = (await read_body(request)).get("scale")
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not 0 < scale <= MAX_SCALE:
        raise InvalidParams(f"Give the scale as a number of simulated seconds per real second, more than 0 and at "
                            f"most {MAX_SCALE:g}: {{\"scale\": 48}}.")
    platform.clock.set_scale(float(scale))
    await platform.store.save_clock()
    return json_response(_clock_json(platform))


@routes.post("/clock/warp")
async def warp_clock(request: web.Request) -> web.Response:
    """Advance simulated time now: {"seconds": 86400} or {"duration": "24h"}; every timer due fires."""
    platform = platform_of(request)
    body = await read_body(request)
    seconds = body.get("seconds")
    if "duration" in body:
        try:
            seconds = parse_duration(str(body["duration"]))
        except ValueError as exc:
            raise InvalidParams(str(exc)) from None
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 < seconds <= MAX_WARP:
        raise InvalidParams("Give the warp as seconds (more than 0, at most a year) or a duration like 24h.")
    await platform.clock.warp(float(seconds))
    await platform.store.save_clock()  # a restarted daemon goes on from here, not from before the warp
    return json_response(_clock_json(platform))
