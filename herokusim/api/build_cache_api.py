"""api/build_cache_api: `DELETE /apps/{app}/build-cache` — purge an app's build cache (Heroku's Build "Delete
cache", which `heroku builds:cache:purge` calls). Answered 202 with no body, as Heroku does: the app's next build
starts with an empty CACHE_DIR (builds/service.py empties it now, or before that build when one is running)."""

from __future__ import annotations

from aiohttp import web

from herokusim.api.responses import platform_of

routes = web.RouteTableDef()


@routes.delete("/apps/{app}/build-cache")
async def purge_build_cache(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    await platform.builds.purge_cache(app.id)
    return web.Response(status=202)
