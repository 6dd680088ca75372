"""api/addons_api: add-ons in the Platform API — `/apps/{app}/addons`, `/addons`, `/addon-attachments`,
`/apps/{app}/addon-attachments`, `/addon-services` and their plans, over platform.addons (addons/manager.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.api import shapes
from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of, ranged
from herokusim.errors import InvalidParams, NotFound
from herokusim.store.models import Addon, App, Attachment

if TYPE_CHECKING:
    from herokusim.platform import Platform

routes = web.RouteTableDef()
FIELDS = ("id", "name")


async def addon_json(platform: Platform, addon: Addon) -> dict[str, Any]:
    billing = await platform.store.get_app(addon.app_id)
    if billing is None:
        raise NotFound(f"Couldn't find that add-on ({addon.name}).")
    manager = platform.addons
    try:
        plan = manager.service(addon.service).plan(addon.plan)
    except (NotFound, InvalidParams):
        plan = None  # its provider is not available now: the add-on is still shown
    names = [a.name for a in await platform.store.list_attachments(addon_id=addon.id) if a.app_id == billing.id]
    config_vars = [var for name in names for var in manager.config_of(addon, name)]
    return shapes.addon_json(addon, billing, plan, config_vars)


async def attachment_json(platform: Platform, attachment: Attachment) -> dict[str, Any]:
    addon = await platform.store.get_addon(attachment.addon_id)
    app = await platform.store.get_app(attachment.app_id)
    billing = await platform.store.get_app(addon.app_id) if addon else None
    if addon is None or app is None or billing is None:
        raise NotFound(f"Couldn't find that add-on attachment ({attachment.id}).")
    return shapes.attachment_json(attachment, addon, billing, app)


def _string(body: dict[str, Any], key: str, what: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InvalidParams(f"{key} must be {what}.")
    return value.strip() if isinstance(value, str) else None


def _options(body: dict[str, Any]) -> dict[str, str]:
    config = body.get("config") or {}
    if not isinstance(config, dict) or not all(isinstance(k, str) and isinstance(v, (str, int, float, bool))
                                               for k, v in config.items()):
        raise InvalidParams('config must be an object of provider options: {"url": "https://example.com/hook"}.')
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in config.items()}


async def _app(request: web.Request) -> App:
    return await platform_of(request).find_app(request.match_info["app"])


# an app's add-ons
@routes.get("/apps/{app}/addons")
async def list_app_addons(request: web.Request) -> web.Response:
    platform = platform_of(request)
    addons = [await addon_json(platform, a) for a in await platform.addons.list(await _app(request))]
    return ranged(request, addons, "name", FIELDS, presorted=True)


@routes.post("/apps/{app}/addons")
async def create_addon(request: web.Request) -> web.Response:
    """Heroku's body: `{"plan": "heroku-postgresql:essential-0", "attachment": {"name": "DATABASE"},
    "config": {"url": "..."}, "name": "my-db"}`."""
    platform = platform_of(request)
    app = await _app(request)
    body = await read_body(request)
    plan = _string(body, "plan", 'a plan name ("heroku-postgresql:essential-0")')
    if plan is None:
        raise InvalidParams('plan is required: {"plan": "heroku-postgresql:essential-0"}.')
    attachment = body.get("attachment") or {}
    if not isinstance(attachment, dict):
        raise InvalidParams('attachment must be an object: {"name": "DATABASE"}.')
    as_name = _string(attachment, "name", "an attachment name (DATABASE)")
    name = _string(body, "name", "an add-on name")
    addon, _ = await platform.addons.create(app, plan, name=name, as_name=as_name, options=_options(body))
    return json_response(await addon_json(platform, addon), 201)


@routes.get("/apps/{app}/addons/{addon}")
async def get_app_addon(request: web.Request) -> web.Response:
    platform = platform_of(request)
    addon = await platform.addons.find(request.match_info["addon"], await _app(request))
    return json_response(await addon_json(platform, addon))


@routes.patch("/apps/{app}/addons/{addon}")
async def update_addon(request: web.Request) -> web.Response:
    platform = platform_of(request)
    addon = await platform.addons.find(request.match_info["addon"], await _app(request))
    body = await read_body(request)
    plan = _string(body, "plan", 'a plan name ("heroku-postgresql:essential-1")')
    if plan is None:
        raise InvalidParams('plan is required: {"plan": "heroku-postgresql:essential-1"}.')
    return json_response(await addon_json(platform, await platform.addons.change_plan(addon, plan)))


@routes.delete("/apps/{app}/addons/{addon}")
async def destroy_addon(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await _app(request)
    addon = await platform.addons.find(request.match_info["addon"], app)
    if addon.app_id != app.id:
        raise InvalidParams(f"{addon.name} is billed to another app: destroy it there, or detach it from "
                            f"{app.name} (addons:detach).")
    data = await addon_json(platform, addon)
    gone = await platform.addons.destroy(addon)
    return json_response({**data, "state": gone.state, "updated_at": gone.updated_at})


# every add-on
@routes.get("/addons")
async def list_addons(request: web.Request) -> web.Response:
    platform = platform_of(request)
    addons = [await addon_json(platform, a) for a in await platform.addons.list()]
    return ranged(request, addons, "name", FIELDS, presorted=True)


@routes.get("/addons/{addon}")
async def get_addon(request: web.Request) -> web.Response:
    platform = platform_of(request)
    return json_response(await addon_json(platform, await platform.addons.find(request.match_info["addon"])))


# attachments
async def _attachment(platform: Platform, attachment_id: str) -> Attachment:
    attachment = await platform.store.get_attachment(attachment_id)
    if attachment is None:
        raise NotFound(f"Couldn't find that add-on attachment ({attachment_id}).")
    return attachment


@routes.get("/addon-attachments")
async def list_attachments(request: web.Request) -> web.Response:
    platform = platform_of(request)
    items = [await attachment_json(platform, a) for a in await platform.store.list_attachments()]
    return ranged(request, items, "id", FIELDS, presorted=True)


@routes.post("/addon-attachments")
async def create_attachment(request: web.Request) -> web.Response:
    """Heroku's body: `{"addon": "postgresql-curved-12345", "app": "other-app", "name": "DATABASE"}`."""
    platform = platform_of(request)
    body = await read_body(request)
    addon_ref = _string(body, "addon", "an add-on's id or name")
    app_ref = _string(body, "app", "an app's id or name")
    if addon_ref is None or app_ref is None:
        raise InvalidParams('addon and app are required: {"addon": "postgresql-curved-12345", "app": "my-app"}.')
    addon = await platform.addons.find(addon_ref)
    app = await platform.find_app(app_ref)
    attachment, _ = await platform.addons.attach(addon, app, _string(body, "name", "an attachment name"))
    return json_response(await attachment_json(platform, attachment), 201)


@routes.get("/addon-attachments/{attachment}")
async def get_attachment(request: web.Request) -> web.Response:
    platform = platform_of(request)
    return json_response(await attachment_json(platform, await _attachment(platform, request.match_info["attachment"])))


@routes.delete("/addon-attachments/{attachment}")
async def delete_attachment(request: web.Request) -> web.Response:
    platform = platform_of(request)
    attachment = await _attachment(platform, request.match_info["attachment"])
    data = await attachment_json(platform, attachment)
    await platform.addons.detach(attachment)
    return json_response(data)


@routes.get("/apps/{app}/addon-attachments")
async def list_app_attachments(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await _app(request)
    items = [await attachment_json(platform, a) for a in await platform.store.list_attachments(app_id=app.id)]
    return ranged(request, items, "id", FIELDS, presorted=True)


# services and plans
@routes.get("/addon-services")
async def list_services(request: web.Request) -> web.Response:
    services = [shapes.addon_service_json(s) for s in platform_of(request).addons.services()]
    return ranged(request, services, "name", FIELDS)


def _find_service(request: web.Request) -> Any:
    wanted = request.match_info["service"]
    for service in platform_of(request).addons.services():
        if wanted in (service.name, shapes.stable_id("addon-service", service.name)):
            return service
    raise NotFound(f"Couldn't find that add-on service ({wanted}).")


@routes.get("/addon-services/{service}")
async def get_service(request: web.Request) -> web.Response:
    return json_response(shapes.addon_service_json(_find_service(request)))


@routes.get("/addon-services/{service}/plans")
async def list_plans(request: web.Request) -> web.Response:
    service = _find_service(request)
    return ranged(request, [shapes.plan_json(service, p) for p in service.plans], "name", FIELDS, presorted=True)
