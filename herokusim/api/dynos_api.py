"""api/dynos_api: formation and dynos in the Platform API — scaling, the dyno list, restarts and stops,
one-off dynos (`run`, `run:detached`) and the WebSocket terminal of an attached one-off."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.api import shapes
from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of, ranged
from herokusim.dynos.dyno import Dyno
from herokusim.errors import InvalidParams, NotFound
from herokusim.store.models import App

if TYPE_CHECKING:
    from herokusim.platform import Platform

routes = web.RouteTableDef()


async def _formation_json(platform: Platform, app: App) -> list[dict[str, Any]]:
    return shapes.formation_json(app, await platform.store.list_formation(app.id))


def _dyno_json(platform: Platform, app: App, dyno: Dyno) -> dict[str, Any]:
    return shapes.dyno_json(app, dyno, platform.dynos.memory_quota_mb(dyno))


def _dynos_json(platform: Platform, app: App) -> list[dict[str, Any]]:
    return shapes.dynos_json(app, platform.dynos.list(app.id), platform.dynos.memory_quota_mb)


# formation and dynos
@routes.get("/apps/{app}/formation")
async def list_formation(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    return ranged(request, await _formation_json(platform, app), "type", ("id", "type"))


@routes.get("/apps/{app}/formation/{type}")
async def get_formation(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    for item in await _formation_json(platform, app):
        if item["type"] == request.match_info["type"]:
            return json_response(item)
    raise NotFound(f"Couldn't find that process type ({request.match_info['type']}).")


@routes.patch("/apps/{app}/formation")
async def batch_scale(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    updates = (await read_body(request)).get("updates")
    if not isinstance(updates, list) or not all(isinstance(u, dict) for u in updates):
        raise InvalidParams('Give {"updates": [{"type": "web", "quantity": 2}]}.')
    await platform.scale(app, updates)
    return json_response(await _formation_json(platform, app))


@routes.patch("/apps/{app}/formation/{type}")
async def scale_one(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    await platform.scale(app, [{**await read_body(request), "type": request.match_info["type"]}])
    for item in await _formation_json(platform, app):
        if item["type"] == request.match_info["type"]:
            return json_response(item)
    raise NotFound(f"Couldn't find that process type ({request.match_info['type']}).")


@routes.get("/apps/{app}/dynos")
async def list_dynos(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    return ranged(request, _dynos_json(platform, app), "name", ("id", "name"))


@routes.get("/apps/{app}/dynos/{dyno}")
async def get_dyno(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    for item in _dynos_json(platform, app):
        if request.match_info["dyno"] in (item["id"], item["name"]):
            return json_response(item)
    raise NotFound(f"Couldn't find that dyno ({request.match_info['dyno']}).")


@routes.post("/apps/{app}/dynos")
async def create_dyno(request: web.Request) -> web.Response:
    """A one-off dyno: `run` (attach: true, a terminal at attach_url) or `run:detached`."""
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    body = await read_body(request)
    command, env, size = body.get("command"), body.get("env") or {}, body.get("size")
    if not isinstance(command, str):
        raise InvalidParams("Give a command to run, e.g. `herokusim run bash`.")
    if "\0" in command:  # no process can be started with it: refuse it here, not in the dyno's start
        raise InvalidParams("command cannot contain a NUL character.")
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise InvalidParams("env must be an object of strings.")
    if size is not None and not isinstance(size, str):
        raise InvalidParams("size must be a string.")
    dyno = await platform.dynos.run(app.id, command, platform.user, attach=bool(body.get("attach")),
                                    tty=bool(body.get("tty")),
                                    size=platform.dyno_size(size) if size else None,
                                    env=platform.validate_env(env))
    data = _dyno_json(platform, app, dyno)
    if dyno.attachment is not None:
        data["attach_url"] = f"ws://{platform.settings.host}:{platform.settings.api_port}" \
                             f"/dyno-attach/{dyno.attachment.secret}"
    return json_response(data, 201)


@routes.delete("/apps/{app}/dynos")
async def restart_all_dynos(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    await platform.restart(app, None)
    return json_response({})


@routes.delete("/apps/{app}/dynos/{dyno}")
async def restart_dynos(request: web.Request) -> web.Response:
    """Restart one dyno (`web.1`), or every dyno of a process type (`web`)."""
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    await platform.restart(app, request.match_info["dyno"])
    return json_response({})


@routes.post("/apps/{app}/dynos/{dyno}/actions/stop")
async def stop_dyno(request: web.Request) -> web.Response:
    """Stop one dyno (`web.1`, answered with it), or every dyno of a process type (`web`, a list)."""
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    target = request.match_info["dyno"]
    stopped = [_dyno_json(platform, app, dyno) for dyno in await platform.dynos.stop(app.id, target)]
    return json_response(stopped[0] if "." in target else stopped, 202)


def _is_eof(text: str) -> bool:
    """Whether a text frame of an attached terminal is {"eof": true}; any other text frame is ignored."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("eof") is True


@routes.get("/dyno-attach/{secret}")
async def attach_dyno(request: web.Request) -> web.WebSocketResponse:
    """The terminal of an attached one-off, over a WebSocket: binary frames carry input and output;
    the client sends {"eof": true} to end input, the server ends with {"exit_status": N}."""
    platform = platform_of(request)
    dyno = platform.dynos.attachment(request.match_info["secret"])
    if dyno is None or dyno.attachment is None:
        raise NotFound("This dyno session has expired or does not exist.")
    ws = web.WebSocketResponse()
    await ws.prepare(request)

    async def send_output() -> None:
        assert dyno.attachment is not None
        while (chunk := await dyno.attachment.output.get()) is not None:
            await ws.send_bytes(chunk)
        await dyno.exited.wait()
        await ws.send_json({"exit_status": dyno.exit_status if dyno.exit_status is not None else 1})
        await ws.close()

    sender = asyncio.create_task(send_output())
    async for message in ws:
        await dyno.started.wait()  # input that arrives while the slug is unpacked waits for the process
        if dyno.running is None:
            continue
        if message.type == web.WSMsgType.BINARY:
            dyno.running.write_input(message.data)
        elif message.type == web.WSMsgType.TEXT and _is_eof(message.data):
            dyno.running.close_input()
    # the terminal went away while the one-off runs (its output could not be sent either, or the sender
    # waits for more): the one-off stops, as on Heroku
    if not dyno.exited.is_set():
        await platform.dynos.stop(dyno.app_id, dyno.name)
    with contextlib.suppress(asyncio.CancelledError, ConnectionError, TimeoutError):
        await asyncio.wait_for(sender, 5)
    return ws
