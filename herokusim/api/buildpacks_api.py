"""api/buildpacks_api: the buildpacks set on an app — `GET /apps/{app}/buildpack-installations` and
`PUT` of the same, whose `{"updates": [{"buildpack": URL}, ...]}` replaces the whole list, as Heroku's API
does (its CLI computes set/add/remove/clear on its side and PUTs the result). An empty list: the next build
detects a built-in buildpack. Each change is logged as an `app[api]` line; none makes a release (the next
build uses the list)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.api import shapes
from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of, ranged
from herokusim.builds.resolve import MAX_BUILDPACKS, buildpack_name, check_buildpack_url
from herokusim.errors import InvalidParams

if TYPE_CHECKING:
    from herokusim.store.models import App

routes = web.RouteTableDef()

_EXAMPLE = '{"updates": [{"buildpack": "heroku/python"}]}'


def installations_json(urls: list[str]) -> list[dict[str, Any]]:
    return [shapes.buildpack_installation_json(ordinal, url, buildpack_name(url)) for ordinal, url in enumerate(urls)]


def _urls_of(body: dict[str, Any]) -> list[str]:
    updates = body.get("updates")
    if not isinstance(updates, list):
        raise InvalidParams(f"updates is required: a list of buildpacks, {_EXAMPLE} (an empty list clears them).")
    if len(updates) > MAX_BUILDPACKS:
        raise InvalidParams(f"At most {MAX_BUILDPACKS} buildpacks can be set on an app.")
    urls: list[str] = []
    for update in updates:
        if not isinstance(update, dict) or "buildpack" not in update:
            raise InvalidParams(f"Each update is an object with a buildpack URL: {_EXAMPLE}.")
        url = check_buildpack_url(update["buildpack"])
        if url in urls:
            raise InvalidParams(f"The buildpack {url} is already set on your app.")
        urls.append(url)
    return urls


def _change_line(urls: list[str], user: str) -> str:
    """The app[api] line of a change, worded like Heroku's config changes (`Set X config vars by user`)."""
    if not urls:
        return f"Cleared buildpacks by user {user}"
    names = ", ".join(buildpack_name(u) for u in urls)
    return f"Set {names} buildpack{'s' if len(urls) > 1 else ''} by user {user}"


async def _set(request: web.Request, app: App, urls: list[str]) -> list[str]:
    platform = platform_of(request)
    async with platform.store.app_writes(app):
        if await platform.store.list_buildpacks(app.id) != urls:
            await platform.store.set_buildpacks(app.id, urls)
            platform.logplex.publish(app.id, "app", "api", _change_line(urls, platform.user))
    return urls


@routes.get("/apps/{app}/buildpack-installations")
async def list_installations(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    items = installations_json(await platform.store.list_buildpacks(app.id))
    return ranged(request, items, "ordinal", ("ordinal",), presorted=True)


@routes.put("/apps/{app}/buildpack-installations")
async def update_installations(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    urls = _urls_of(await read_body(request))
    return json_response(installations_json(await _set(request, app, urls)))  # the whole list, not paged
