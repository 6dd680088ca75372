"""api/server: the Platform API's aiohttp application — the middleware every request passes (readiness,
credentials, the rate limit, API version, errors in Heroku's shape), the headers every answer carries
(`Request-Id`, `RateLimit-Remaining`) and the routes of every resource, gathered from the api/*_api modules."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.api import (
    account_api,
    addons_api,
    app_setups_api,
    apps_api,
    blobs,
    build_cache_api,
    buildpacks_api,
    builds_api,
    clock_api,
    dynos_api,
    labs_api,
    logs_api,
    pg_api,
    pgbackups_api,
    pgfollow_api,
    redis_api,
    releases_api,
    router_api,
    scheduler_api,
    slugs_api,
    stack_api,
)
from herokusim.api.account_api import FREE_PATHS, RATE_LIMIT, RateLimit, rate_limit_of
from herokusim.api.body import MAX_BODY_BYTES
from herokusim.api.logs_api import LOG_SESSIONS, LogSessions
from herokusim.api.responses import PLATFORM, error_response, platform_of
from herokusim.auth import basic_password
from herokusim.config import TUI_USER_AGENT
from herokusim.errors import NotAcceptable, PlatformError, RateLimited, Unauthorized

if TYPE_CHECKING:
    from herokusim.platform import Platform

log = logging.getLogger(__name__)

REQUEST_ID_MAX = 200  # the longest client Request-Id echoed back
# Heroku's error ids by status, for the errors aiohttp raises itself (devcenter's "Error Responses")
HEROKU_IDS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 406: "not_acceptable",
              409: "conflict", 410: "gone", 413: "request_entity_too_large", 416: "requested_range_not_satisfiable",
              422: "invalid_params", 429: "rate_limit"}


def _token_from(request: web.Request) -> bytes | None:
    """The credential as the bytes the client sent (Bearer, or Basic with the token as the password)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        # aiohttp decodes header bytes that are not UTF-8 with surrogateescape: this gives them back
        return value.strip().encode("utf-8", "surrogateescape")
    return basic_password(header)


def _check_accept(request: web.Request) -> None:
    """Version 3 in any variant (`version=3`, `version=3.cedar-acm`), plain JSON, `*/*` or no Accept at all
    pass; an Accept that offers only another version of Heroku's type is 406 not_acceptable."""
    refused = None
    for part in request.headers.get("Accept", "").split(","):
        media, *params = part.split(";")
        if media.strip().lower() != "application/vnd.heroku+json":
            return
        version = next((value.strip().strip('"') for key, _, value in (p.partition("=") for p in params)
                        if key.strip().lower() == "version"), "")
        if not version or version == "3" or version.startswith("3."):
            return
        refused = version
    if refused is not None:
        raise NotAcceptable(f"Unsupported API version {refused!r}: herokusim speaks version=3 "
                            "(Accept: application/vnd.heroku+json; version=3).")


def _charge(request: web.Request) -> None:
    """One token of the account's rate limit for an authenticated request (429 rate_limit when none is left)."""
    if request.path in FREE_PATHS or request.headers.get("User-Agent", "").startswith(TUI_USER_AGENT):
        return
    if not rate_limit_of(request).take():
        raise RateLimited("Your account reached the API rate limit. Please wait a few minutes before making new "
                          f"requests (the bucket holds {rate_limit_of(request).size} and refills over an hour).")


def request_id(request: web.Request) -> str:
    """The client's own Request-Id when it is a sane token (printable ASCII, at most 200 characters), else a
    fresh UUID: the one id the answer carries."""
    given = request.headers.get("Request-Id", "").strip()
    if given and len(given) <= REQUEST_ID_MAX and given.isascii() and given.isprintable():
        return given
    return str(uuid.uuid4())


async def _stamp(request: web.Request, response: web.StreamResponse) -> None:
    """What every answer carries, errors and streams included."""
    response.headers["Request-Id"] = request_id(request)
    response.headers["RateLimit-Remaining"] = str(rate_limit_of(request).remaining)


@web.middleware
async def platform_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    # A restarted daemon answers once it has stopped what its predecessor left running and brought every
    # formation back: no client sees the half-reconciled state.
    await platform_of(request).ready.wait()
    try:
        # these URLs carry their own secret
        if not request.path.startswith(("/log-sessions/", "/dyno-attach/", "/blobs/")):
            token = _token_from(request)
            if not platform_of(request).authenticate(token):
                raise Unauthorized("Invalid credentials provided.")
            _charge(request)
            _check_accept(request)
        return await handler(request)
    except PlatformError as exc:
        return error_response(exc.status, exc.id, exc.message)
    except web.HTTPNotFound:
        return error_response(404, "not_found", f"The requested API endpoint {request.path} was not found.")
    except web.HTTPMethodNotAllowed:  # Heroku answers a wrong verb as an endpoint it does not have
        return error_response(404, "not_found", f"The requested API endpoint {request.method} {request.path} "
                                                "was not found: is it the right HTTP verb?")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error_id = HEROKU_IDS.get(exc.status) or exc.reason.lower().replace(" ", "_")
        return error_response(exc.status, error_id, exc.text or exc.reason)
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
    app[PLATFORM] = platform
    app[LOG_SESSIONS] = LogSessions()
    app[RATE_LIMIT] = RateLimit(platform.settings.api_rate_limit)
    app.on_response_prepare.append(_stamp)
    app[blobs.UPLOADS] = set()
    # aiohttp tries routes in the order they are added: this is the order they always had
    for resource in (apps_api, releases_api, dynos_api, clock_api, logs_api):
        app.add_routes(resource.routes)
    app.add_routes(router_api.routes)  # domains and router metrics
    app.add_routes(stack_api.routes)  # the stack (and whether its image is built), the regions
    app.add_routes(account_api.routes)  # the account's rate limit
    app.add_routes(slugs_api.routes)  # slugs made by a client (POST /apps/{app}/slugs)
    app.add_routes(builds_api.routes)  # builds from a source tarball (POST /apps/{app}/builds)
    app.add_routes(build_cache_api.routes)  # DELETE /apps/{app}/build-cache (builds:cache:purge)
    app.add_routes(blobs.routes)  # slug tarballs at signed URLs
    app.add_routes(app_setups_api.routes)  # apps from a tarball's app.json (POST /app-setups)
    app.add_routes(buildpacks_api.routes)  # the buildpacks set on an app (buildpack-installations)
    app.add_routes(addons_api.routes)  # add-ons, their attachments, services and plans
    app.add_routes(pg_api.routes)  # Heroku Postgres's own commands: /apps/{app}/addons/{addon}/pg-*
    app.add_routes(pgbackups_api.routes)  # pg:backups: backups, restores, schedules, dump URLs
    app.add_routes(pgfollow_api.routes)  # Postgres followers: pg:wait, pg:unfollow
    app.add_routes(redis_api.routes)  # redis:info, redis:cli, redis:maxmemory on a heroku-redis add-on
    app.add_routes(scheduler_api.routes)  # Heroku Scheduler's jobs (scheduler:jobs*)
    app.add_routes(labs_api.routes)  # the classroom labs' progress (labs:*)
    return app
