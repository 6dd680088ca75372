"""api/server: the Platform API's aiohttp application — the middleware every request passes (readiness,
credentials, API version, errors in Heroku's shape) and the routes of every resource, gathered from the
api/*_api modules."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.api import apps_api, clock_api, dynos_api, logs_api, releases_api, router_api, stack_api
from herokusim.api.body import MAX_BODY_BYTES
from herokusim.api.logs_api import LOG_SESSIONS, LogSessions
from herokusim.api.responses import error_response, platform_of
from herokusim.auth import basic_password
from herokusim.errors import PlatformError, Unauthorized

if TYPE_CHECKING:
    from herokusim.platform import Platform

log = logging.getLogger(__name__)


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


@web.middleware
async def platform_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    # A restarted daemon answers once it has stopped what its predecessor left running and brought every
    # formation back: no client sees the half-reconciled state.
    await platform_of(request).ready.wait()
    try:
        if not request.path.startswith(("/log-sessions/", "/dyno-attach/")):  # these URLs carry their own secret
            token = _token_from(request)
            if not platform_of(request).authenticate(token):
                raise Unauthorized("Invalid credentials provided.")
            _check_accept(request)
        return await handler(request)
    except PlatformError as exc:
        return error_response(exc.status, exc.id, exc.message)
    except web.HTTPNotFound:
        return error_response(404, "not_found", f"The requested API endpoint {request.path} was not found.")
    except web.HTTPMethodNotAllowed:
        return error_response(405, "method_not_allowed", f"{request.method} is not allowed on {request.path}.")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.text or exc.reason)
    except Exception as exc:
        if isinstance(exc, ConnectionError) and (request.transport is None or request.transport.is_closing()):
            # A client that goes away (a `logs --tail` or `run` ended mid-stream) is normal: nothing of ours
            # broke and nothing is logged. aiohttp drops this answer quietly on the closed connection; raised
            # instead, the error would reach its "Error handling request" log.
            return web.Response(status=499)
        # the last resort: a bug of ours. The daemon's log gets the traceback, the client Heroku's shape.
        log.exception("api: %s %s failed", request.method, request.path)
        return error_response(500, "internal_server_error", "Internal server error: see the daemon's output.")


def create_api(platform: Platform) -> web.Application:
    app = web.Application(middlewares=[platform_middleware], client_max_size=MAX_BODY_BYTES)
    app["platform"] = platform
    app[LOG_SESSIONS] = LogSessions()
    # aiohttp tries routes in the order they are added: this is the order they always had
    for resource in (apps_api, releases_api, dynos_api, clock_api, logs_api):
        app.add_routes(resource.routes)
    app.add_routes(router_api.routes)  # domains and router metrics
    app.add_routes(stack_api.routes)  # the stack (and whether its image is built), the regions
    return app
