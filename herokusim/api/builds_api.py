"""api/builds_api: `POST /apps/{app}/builds` — a build without git, from a source tarball named by
`source_blob.url` (on loopback, or a `file://` path: builds/source.py). Answered at once with the pending build;
the build runs after any other of the app (pushes too) and streams to its `output_stream_url`."""

from __future__ import annotations

from aiohttp import web

from herokusim.api import shapes
from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of
from herokusim.builds.source import check_source_url
from herokusim.errors import InvalidParams

routes = web.RouteTableDef()
MAX_VERSION = 1024


@routes.post("/apps/{app}/builds")
async def create_build(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    body = await read_body(request)
    blob = body.get("source_blob")
    if not isinstance(blob, dict):
        raise InvalidParams('source_blob is required: {"source_blob": {"url": "file:///path/app.tgz", '
                            '"version": "v1"}}.')
    version = blob.get("version")
    if version is not None and (not isinstance(version, str) or len(version) > MAX_VERSION or "\0" in version):
        raise InvalidParams(f"source_blob.version must be a string of at most {MAX_VERSION} characters, or null.")
    if body.get("buildpacks"):
        raise InvalidParams("buildpacks cannot be chosen per build yet: set them on the app (PUT "
                            "/apps/{app}/buildpack-installations, or `herokusim buildpacks:set`).")
    source = check_source_url(blob.get("url"))
    build = await platform.builds.build_from_source(app, source, version or None)
    settings = platform.settings
    return json_response(shapes.build_json(app, build, settings.api_url, settings.git_url(app.name)), 201)
