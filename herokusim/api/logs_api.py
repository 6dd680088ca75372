"""api/logs_api: logs in the Platform API — a log session is created (`POST /apps/{app}/log-sessions`), then
its one stream is read at its secret URL, as on Heroku: the history, or the history and then the tail."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from dataclasses import dataclass, field

from aiohttp import web

from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of
from herokusim.errors import InvalidParams, NotFound
from herokusim.logplex.lines import LogFilter

LOG_SESSION_LINES = 1500

routes = web.RouteTableDef()


@dataclass
class LogSession:
    id: str
    secret: str
    app_id: str
    lines: int
    tail: bool
    where: LogFilter


@dataclass
class LogSessions:
    """Log sessions waiting for their one stream request (the URL is the secret, as on Heroku)."""

    pending: dict[str, LogSession] = field(default_factory=dict)

    def create(self, app_id: str, lines: int, tail: bool, where: LogFilter) -> LogSession:
        session = LogSession(str(uuid.uuid4()), secrets.token_urlsafe(24), app_id, lines, tail, where)
        if len(self.pending) > 1000:  # sessions nobody streamed: forget the oldest
            self.pending.pop(next(iter(self.pending)))
        self.pending[session.secret] = session
        return session

    def take(self, secret: str) -> LogSession | None:
        return self.pending.pop(secret, None)


LOG_SESSIONS = web.AppKey("log_sessions", LogSessions)  # the API application's sessions


# logs
@routes.post("/apps/{app}/log-sessions")
async def create_log_session(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    body = await read_body(request)
    lines = body.get("lines", 100)
    if not isinstance(lines, int) or isinstance(lines, bool) or not 0 <= lines <= LOG_SESSION_LINES:
        raise InvalidParams(f"lines must be a number from 0 to {LOG_SESSION_LINES}.")
    source = body.get("source")
    if source not in (None, "app", "heroku"):
        raise InvalidParams("source must be app or heroku.")
    for key in ("dyno", "ps"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise InvalidParams(f"{key} must be a string.")
    session = request.app[LOG_SESSIONS].create(app.id, lines, bool(body.get("tail")),
                                               LogFilter(source, body.get("dyno"), body.get("ps")))
    return json_response({"id": session.id,
                          "logplex_url": f"{platform.settings.api_url}/log-sessions/{session.secret}",
                          "created_at": platform.store.now(), "updated_at": platform.store.now()}, 201)


@routes.get("/log-sessions/{secret}")
async def stream_log_session(request: web.Request) -> web.StreamResponse:
    platform = platform_of(request)
    session = request.app[LOG_SESSIONS].take(request.match_info["secret"])
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
