"""api/releases_api: releases, slugs and builds in the Platform API — the release list, one release and its
config, a new release (rollback, or a slug released), a slug, and builds with their output (streamed while
the build runs)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.api import shapes
from herokusim.api.blobs import slug_blob_url
from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of, ranged
from herokusim.errors import InvalidParams, NotFound
from herokusim.store.models import App

if TYPE_CHECKING:
    from herokusim.platform import Platform

routes = web.RouteTableDef()
MAX_DESCRIPTION = 1024  # a release's description as a client gives it


async def _releases_json(platform: Platform, app: App) -> list[dict[str, Any]]:
    releases = await platform.store.list_releases(app.id)
    current = await platform.store.current_release(app.id)
    return shapes.releases_json(app, releases, current)


# releases
@routes.get("/apps/{app}/releases")
async def list_releases(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    items = await _releases_json(platform, app)
    return ranged(request, items, "version", ("id", "version"))


@routes.get("/apps/{app}/releases/{release}")
async def get_release(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    release = await platform.find_release(app, request.match_info["release"])
    return json_response(next(r for r in await _releases_json(platform, app) if r["id"] == release.id))


@routes.get("/apps/{app}/releases/{release}/config-vars")
async def get_release_config(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    return json_response((await platform.find_release(app, request.match_info["release"])).config)


@routes.post("/apps/{app}/releases")
async def create_release(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    body = await read_body(request)
    usage = 'Give {"release": <id or version>} to roll back or {"slug": <id>} to release a slug, not both.'
    if ("release" in body) == ("slug" in body):
        raise InvalidParams(usage)
    if "release" in body:
        if not isinstance(body["release"], (str, int)) or isinstance(body["release"], bool):
            raise InvalidParams(usage)
        release = await platform.ledger.rollback(app, str(body["release"]), platform.user)
    else:
        description = body.get("description")
        if not isinstance(body["slug"], str):
            raise InvalidParams(usage)
        if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
            raise InvalidParams(f"description must be a string of at most {MAX_DESCRIPTION} characters.")
        slug = await platform.store.get_slug(app.id, body["slug"])
        if slug is None:
            raise NotFound(f"Couldn't find that slug ({body['slug']}).")
        if not slug.uploaded:
            raise InvalidParams(f"Slug {slug.id} has no tarball yet: PUT it to the slug's blob.url (from "
                                "POST /apps/{app}/slugs), then release it.")
        release = await platform.ledger.deploy(app, slug, platform.user, description=description or None)
    return json_response(next(r for r in await _releases_json(platform, app) if r["id"] == release.id), 201)


# slugs and builds
@routes.get("/apps/{app}/slugs/{slug}")
async def get_slug(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    slug = await platform.store.get_slug(app.id, request.match_info["slug"])
    if slug is None:
        raise NotFound(f"Couldn't find that slug ({request.match_info['slug']}).")
    blob_url = slug_blob_url(platform.settings.api_url, platform.token, slug.id)
    return json_response(shapes.slug_json(slug, blob_url))


@routes.get("/apps/{app}/builds")
async def list_builds(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    settings = platform.settings
    builds = [shapes.build_json(app, b, settings.api_url, settings.git_url(app.name))
              for b in await platform.store.list_builds(app.id)]
    return ranged(request, builds, "created_at", ("id", "created_at"))


@routes.get("/apps/{app}/builds/{build}")
async def get_build(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    build = await platform.store.get_build(app.id, request.match_info["build"])
    if build is None:
        raise NotFound(f"Couldn't find that build ({request.match_info['build']}).")
    settings = platform.settings
    return json_response(shapes.build_json(app, build, settings.api_url, settings.git_url(app.name)))


@routes.get("/apps/{app}/builds/{build}/result")
async def get_build_output(request: web.Request) -> web.Response:
    platform = platform_of(request)
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
