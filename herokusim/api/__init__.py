"""api/: the Platform API v3 subset over HTTP/JSON on loopback — the only door the CLI and the TUI use."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.api import router_api, stack_api
from herokusim.api.body import MAX_BODY_BYTES
from herokusim.api.body import read_body as _body
from herokusim.api.ranges import apply_range, parse_range
from herokusim.auth import basic_password
from herokusim.clock import MAX_WARP, parse_duration
from herokusim.errors import InvalidParams, NotFound, PlatformError, Unauthorized
from herokusim.logplex import LogFilter

if TYPE_CHECKING:
    from herokusim.platform import Platform

log = logging.getLogger(__name__)
JSON_TYPE = "application/json"
LOG_SESSION_LINES = 1500

routes = web.RouteTableDef()


def _platform(request: web.Request) -> Platform:
    return request.app["platform"]


def _token_from(request: web.Request) -> bytes | None:
    """The credential as the bytes the client sent (Bearer, or Basic with the token as the password)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        # aiohttp decodes header bytes that are not UTF-8 with surrogateescape: this gives them back
        return value.strip().encode("utf-8", "surrogateescape")
    return basic_password(header)


def _check_accept(request: web.Request) -> None:
    accept = request.headers.get("Accept", "")
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        if media.strip() == "application/vnd.heroku+json":
            version = params.replace(" ", "").partition("version=")[2]
            if version and not version.startswith("3"):
                raise PlatformError(f"Unsupported API version {version!r}: herokusim speaks version=3.")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type=JSON_TYPE, headers=headers)


def _error(status: int, error_id: str, message: str) -> web.Response:
    return _json({"id": error_id, "message": message}, status)


@web.middleware
async def platform_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    # A restarted daemon answers once it has stopped what its predecessor left running and brought every
    # formation back: no client sees the half-reconciled state.
    await _platform(request).ready.wait()
    try:
        if not request.path.startswith(("/log-sessions/", "/dyno-attach/")):  # these URLs carry their own secret
            token = _token_from(request)
            if not _platform(request).authenticate(token):
                raise Unauthorized("Invalid credentials provided.")
            _check_accept(request)
        return await handler(request)
    except PlatformError as exc:
        return _error(exc.status, exc.id, exc.message)
    except web.HTTPNotFound:
        return _error(404, "not_found", f"The requested API endpoint {request.path} was not found.")
    except web.HTTPMethodNotAllowed:
        return _error(405, "method_not_allowed", f"{request.method} is not allowed on {request.path}.")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason.lower().replace(" ", "_"), exc.text or exc.reason)
    except Exception as exc:
        if isinstance(exc, ConnectionError) and (request.transport is None or request.transport.is_closing()):
            # A client that goes away (a `logs --tail` or `run` ended mid-stream) is normal: nothing of ours
            # broke and nothing is logged. aiohttp drops this answer quietly on the closed connection; raised
            # instead, the error would reach its "Error handling request" log.
            return web.Response(status=499)
        # the last resort: a bug of ours. The daemon's log gets the traceback, the client Heroku's shape.
        log.exception("api: %s %s failed", request.method, request.path)
        return _error(500, "internal_server_error", "Internal server error: see the daemon's output.")


def _list(request: web.Request, items: list[dict[str, Any]], default_field: str,
          fields: tuple[str, ...]) -> web.Response:
    rng = parse_range(request.headers.get("Range"), default_field, fields)
    page, next_range = apply_range(items, rng)
    if next_range:
        return _json(page, 206, {"Next-Range": next_range})
    return _json(page)


# apps
@routes.get("/account")
async def account(request: web.Request) -> web.Response:
    user = _platform(request).user
    return _json({"email": user, "id": "00000000-0000-4000-8000-000000000000", "name": "herokusim"})


@routes.get("/apps")
async def list_apps(request: web.Request) -> web.Response:
    platform = _platform(request)
    apps = [await platform.app_json(a) for a in await platform.store.list_apps()]
    return _list(request, apps, "id", ("id", "name"))


@routes.post("/apps")
async def create_app(request: web.Request) -> web.Response:
    body = await _body(request)
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidParams("Name must be a string.")
    platform = _platform(request)
    app = await platform.create_app(name)
    return _json(await platform.app_json(app), 201)


@routes.get("/apps/{app}")
async def get_app(request: web.Request) -> web.Response:
    platform = _platform(request)
    return _json(await platform.app_json(await platform.find_app(request.match_info["app"])))


@routes.patch("/apps/{app}")
async def update_app(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    body = await _body(request)
    if "maintenance" in body:
        if not isinstance(body["maintenance"], bool):
            raise InvalidParams("maintenance must be true or false.")
        app = await platform.set_maintenance(app, body["maintenance"])
    return _json(await platform.app_json(app))


@routes.delete("/apps/{app}")
async def destroy_app(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    data = await platform.app_json(app)
    await platform.destroy_app(app)
    return _json(data)


# config vars
@routes.get("/apps/{app}/config-vars")
async def get_config(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    return _json(await platform.store.latest_config(app.id))


@routes.patch("/apps/{app}/config-vars")
async def update_config(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    changes = platform.validate_config(await _body(request))
    release = await platform.ledger.set_config(app, changes, platform.user)
    # this change's config, not whatever a concurrent change made of it since
    return _json(release.config if release is not None else await platform.store.latest_config(app.id))


# releases
@routes.get("/apps/{app}/releases")
async def list_releases(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    items = await platform.releases_json(app)
    return _list(request, items, "version", ("id", "version"))


@routes.get("/apps/{app}/releases/{release}")
async def get_release(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    release = await platform.find_release(app, request.match_info["release"])
    return _json(next(r for r in await platform.releases_json(app) if r["id"] == release.id))


@routes.get("/apps/{app}/releases/{release}/config-vars")
async def get_release_config(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    return _json((await platform.find_release(app, request.match_info["release"])).config)


@routes.post("/apps/{app}/releases")
async def create_release(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    body = await _body(request)
    if isinstance(body.get("release"), (str, int)) and not isinstance(body["release"], bool):
        release = await platform.ledger.rollback(app, str(body["release"]), platform.user)
    elif isinstance(body.get("slug"), str):
        slug = await platform.store.get_slug(app.id, body["slug"])
        if slug is None:
            raise NotFound(f"Couldn't find that slug ({body['slug']}).")
        release = await platform.ledger.deploy(app, slug, platform.user)
    else:
        raise InvalidParams('Give {"release": <id or version>} to roll back or {"slug": <id>} to release.')
    return _json(next(r for r in await platform.releases_json(app) if r["id"] == release.id), 201)


# slugs and builds
@routes.get("/apps/{app}/slugs/{slug}")
async def get_slug(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    slug = await platform.store.get_slug(app.id, request.match_info["slug"])
    if slug is None:
        raise NotFound(f"Couldn't find that slug ({request.match_info['slug']}).")
    return _json(platform.slug_json(slug))


@routes.get("/apps/{app}/builds")
async def list_builds(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    builds = [platform.build_json(app, b) for b in await platform.store.list_builds(app.id)]
    return _list(request, builds, "created_at", ("id", "created_at"))


@routes.get("/apps/{app}/builds/{build}")
async def get_build(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    build = await platform.store.get_build(app.id, request.match_info["build"])
    if build is None:
        raise NotFound(f"Couldn't find that build ({request.match_info['build']}).")
    return _json(platform.build_json(app, build))


@routes.get("/apps/{app}/builds/{build}/result")
async def get_build_output(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    build = await platform.store.get_build(app.id, request.match_info["build"])
    if build is None:
        raise NotFound(f"Couldn't find that build ({request.match_info['build']}).")
    live = platform.builds.live.get(build.id)
    if live is None:
        return web.Response(text=build.output + ("\n" if build.output else ""), content_type="text/plain")
    # still building: the output streams as it is written, as Heroku's output_stream_url does
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):  # the client left: the build goes on without it
        async for lines in live.follow():
            await response.write("".join(line + "\n" for line in lines).encode())
        await response.write_eof()
    return response


# formation and dynos
@routes.get("/apps/{app}/formation")
async def list_formation(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    return _list(request, await platform.formation_json(app), "type", ("id", "type"))


@routes.get("/apps/{app}/formation/{type}")
async def get_formation(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    for item in await platform.formation_json(app):
        if item["type"] == request.match_info["type"]:
            return _json(item)
    raise NotFound(f"Couldn't find that process type ({request.match_info['type']}).")


@routes.patch("/apps/{app}/formation")
async def batch_scale(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    updates = (await _body(request)).get("updates")
    if not isinstance(updates, list) or not all(isinstance(u, dict) for u in updates):
        raise InvalidParams('Give {"updates": [{"type": "web", "quantity": 2}]}.')
    await platform.scale(app, updates)
    return _json(await platform.formation_json(app))


@routes.patch("/apps/{app}/formation/{type}")
async def scale_one(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    await platform.scale(app, [{**await _body(request), "type": request.match_info["type"]}])
    for item in await platform.formation_json(app):
        if item["type"] == request.match_info["type"]:
            return _json(item)
    raise NotFound(f"Couldn't find that process type ({request.match_info['type']}).")


@routes.get("/apps/{app}/dynos")
async def list_dynos(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    return _list(request, platform.dynos_json(app), "name", ("id", "name"))


@routes.get("/apps/{app}/dynos/{dyno}")
async def get_dyno(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    for item in platform.dynos_json(app):
        if request.match_info["dyno"] in (item["id"], item["name"]):
            return _json(item)
    raise NotFound(f"Couldn't find that dyno ({request.match_info['dyno']}).")


@routes.post("/apps/{app}/dynos")
async def create_dyno(request: web.Request) -> web.Response:
    """A one-off dyno: `run` (attach: true, a terminal at attach_url) or `run:detached`."""
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    body = await _body(request)
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
    data = platform.dyno_json(app, dyno)
    if dyno.attachment is not None:
        data["attach_url"] = f"ws://{platform.settings.host}:{platform.settings.api_port}" \
                             f"/dyno-attach/{dyno.attachment.secret}"
    return _json(data, 201)


@routes.delete("/apps/{app}/dynos")
async def restart_all_dynos(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    await platform.restart(app, None)
    return _json({})


@routes.delete("/apps/{app}/dynos/{dyno}")
async def restart_dynos(request: web.Request) -> web.Response:
    """Restart one dyno (`web.1`), or every dyno of a process type (`web`)."""
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    await platform.restart(app, request.match_info["dyno"])
    return _json({})


@routes.post("/apps/{app}/dynos/{dyno}/actions/stop")
async def stop_dyno(request: web.Request) -> web.Response:
    """Stop one dyno (`web.1`, answered with it), or every dyno of a process type (`web`, a list)."""
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    target = request.match_info["dyno"]
    stopped = [platform.dyno_json(app, dyno) for dyno in await platform.dynos.stop(app.id, target)]
    return _json(stopped[0] if "." in target else stopped, 202)


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
    platform = _platform(request)
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


# the simulated clock
@routes.get("/clock")
async def get_clock(request: web.Request) -> web.Response:
    return _json(_platform(request).clock_json())


@routes.post("/clock/warp")
async def warp_clock(request: web.Request) -> web.Response:
    """Advance simulated time now: {"seconds": 86400} or {"duration": "24h"}; every timer due fires."""
    platform = _platform(request)
    body = await _body(request)
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
    return _json(platform.clock_json())


# logs
@routes.post("/apps/{app}/log-sessions")
async def create_log_session(request: web.Request) -> web.Response:
    platform = _platform(request)
    app = await platform.find_app(request.match_info["app"])
    body = await _body(request)
    lines = body.get("lines", 100)
    if not isinstance(lines, int) or isinstance(lines, bool) or not 0 <= lines <= LOG_SESSION_LINES:
        raise InvalidParams(f"lines must be a number from 0 to {LOG_SESSION_LINES}.")
    source = body.get("source")
    if source not in (None, "app", "heroku"):
        raise InvalidParams("source must be app or heroku.")
    for key in ("dyno", "ps"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise InvalidParams(f"{key} must be a string.")
    session = platform.log_sessions.create(app.id, lines, bool(body.get("tail")),
                                           LogFilter(source, body.get("dyno"), body.get("ps")))
    return _json({"id": session.id, "logplex_url": f"{platform.settings.api_url}/log-sessions/{session.secret}",
                  "created_at": platform.store.now(), "updated_at": platform.store.now()}, 201)


@routes.get("/log-sessions/{secret}")
async def stream_log_session(request: web.Request) -> web.StreamResponse:
    platform = _platform(request)
    session = platform.log_sessions.take(request.match_info["secret"])
    if session is None:
        raise NotFound("This log session has expired or does not exist; start a new one.")
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    await response.prepare(request)
    if not session.tail:
        lines = platform.logplex.history(session.app_id, session.lines, session.where)
        await response.write("".join(line.render() + "\n" for line in lines).encode())
        await response.write_eof()
        return response

    async def pump() -> None:
        async for line in platform.logplex.tail(session.app_id, session.lines, session.where):
            await response.write((line.render() + "\n").encode())

    task = asyncio.create_task(pump())
    transport = request.transport
    # A quiet tail learns of a client that left only by looking: check the socket while waiting.
    while not task.done():
        await asyncio.wait({task}, timeout=1.0)
        if transport is None or transport.is_closing():
            task.cancel()
    with contextlib.suppress(asyncio.CancelledError, ConnectionError):  # the client left mid-write
        await task
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


def create_api(platform: Platform) -> web.Application:
    app = web.Application(middlewares=[platform_middleware], client_max_size=MAX_BODY_BYTES)
    app["platform"] = platform
    app.add_routes(routes)
    app.add_routes(router_api.routes)  # domains and router metrics
    app.add_routes(stack_api.routes)  # the stack, and whether its image is built
    return app
