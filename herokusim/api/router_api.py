"""api/router_api: the router's doors in the Platform API — an app's domains and its router metrics.

Domains: `GET/POST /apps/{app}/domains`, `GET/DELETE /apps/{app}/domains/{id_or_hostname}`, in Heroku's
shape. Every app has its default domain `<app>.localhost` (kind `heroku`, implied, never stored); custom
domains are stored and handed to the routing table, at once and on every daemon start.

Metrics: `GET /apps/{app}/router-metrics` (one JSON snapshot, shape in router/metrics.py) and
`GET /apps/{app}/router-metrics/stream` (newline-delimited JSON snapshots, about one a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.api import shapes
from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of, ranged
from herokusim.errors import InvalidParams, NotFound
from herokusim.router.table import APP_HOST_SUFFIX
from herokusim.store.models import App, Domain

if TYPE_CHECKING:
    from herokusim.platform import Platform

STREAM_INTERVAL = 1.0  # seconds between metrics snapshots on the stream
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")

routes = web.RouteTableDef()


class DomainTaken(InvalidParams):
    """Heroku answers a hostname in use 422 invalid_params (not 409 conflict)."""


def default_hostname(app: App) -> str:
    return app.name + APP_HOST_SUFFIX


def _default_domain_json(app: App) -> dict[str, Any]:
    return shapes.default_domain_json(app, default_hostname(app))


def _domain_json(app: App, domain: Domain) -> dict[str, Any]:
    return shapes.domain_json(app, domain, cname=default_hostname(app))


async def restore_domains(platform: Platform) -> None:
    """On daemon start: give the routing table every stored custom domain."""
    for domain in await platform.store.list_domains():
        platform.table.add_domain(domain.app_id, domain.hostname)


def _valid_hostname(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidParams("hostname is required, e.g. {\"hostname\": \"www.example.com\"}.")
    hostname = raw.strip().lower().rstrip(".")
    if not _HOSTNAME.fullmatch(hostname):
        raise InvalidParams(f"{raw!r} is not a valid hostname: use letters, digits, dashes and dots, like "
                            "www.example.com (wildcards are not supported).")
    return hostname


async def _find_domain(platform: Platform, app: App, id_or_hostname: str) -> Domain:
    hostname = id_or_hostname.strip().lower().rstrip(".")
    for domain in await platform.store.list_domains(app.id):
        if id_or_hostname in (domain.id, domain.hostname) or hostname == domain.hostname:
            return domain
    raise NotFound(f"Couldn't find that domain ({id_or_hostname}) on {app.name}.")


@routes.get("/apps/{app}/domains")
async def list_domains(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    custom = [_domain_json(app, d) for d in await platform.store.list_domains(app.id)]
    return ranged(request, [_default_domain_json(app), *custom], "hostname", ("id", "hostname"), presorted=True)


@routes.get("/apps/{app}/domains/{domain}")
async def get_domain(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    wanted = request.match_info["domain"]
    default = _default_domain_json(app)
    if wanted.lower() in (default["id"], default["hostname"]):
        return json_response(default)
    return json_response(_domain_json(app, await _find_domain(platform, app, wanted)))


@routes.post("/apps/{app}/domains")
async def add_domain(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    hostname = _valid_hostname((await read_body(request)).get("hostname"))
    label, _, rest = hostname.partition(".")
    if "." + rest == APP_HOST_SUFFIX:
        owner = await platform.store.get_app(label)
        if owner is not None and owner.id != app.id:
            raise DomainTaken(f"{hostname} is currently in use by another app ({owner.name}).")
        raise InvalidParams(f"{hostname} is reserved: <name>{APP_HOST_SUFFIX} is the default domain of the app "
                            "with that name. Add another hostname, such as www.example.com.")
    async with platform.store.app_writes(app):
        existing = await platform.store.find_domain(hostname)
        if existing is not None:
            if existing.app_id == app.id:
                raise DomainTaken(f"{hostname} is already added to {app.name}.")
            raise DomainTaken(f"{hostname} is currently in use by another app.")
        try:
            domain = await platform.store.add_domain(app.id, hostname)
        except Exception as exc:  # the UNIQUE constraint, when two apps race for one hostname
            if "UNIQUE" in str(exc):
                raise DomainTaken(f"{hostname} is currently in use by another app.") from None
            raise
        platform.table.add_domain(app.id, hostname)
    return json_response(_domain_json(app, domain), 201)


@routes.delete("/apps/{app}/domains/{domain}")
async def remove_domain(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    wanted = request.match_info["domain"]
    default = _default_domain_json(app)
    if wanted.lower() in (default["id"], default["hostname"]):
        raise InvalidParams(f"{default['hostname']} is the app's default domain and cannot be removed.")
    async with platform.store.app_writes(app):
        domain = await _find_domain(platform, app, wanted)
        await platform.store.delete_domain(domain.id)
        platform.table.remove_domain(app.id, domain.hostname)
    return json_response(_domain_json(app, domain))


def _snapshot(platform: Platform, app: App) -> dict[str, Any]:
    snapshot = platform.router.metrics(app.id)
    if snapshot is None:
        raise NotFound(f"The router has no route for {app.name} yet.")
    return snapshot


@routes.get("/apps/{app}/router-metrics")
async def router_metrics(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    return json_response(_snapshot(platform, app))


@routes.get("/apps/{app}/router-metrics/stream")
async def router_metrics_stream(request: web.Request) -> web.StreamResponse:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    first = _snapshot(platform, app)
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-cache"})
    await response.prepare(request)
    snapshot: dict[str, Any] | None = first
    with contextlib.suppress(ConnectionError):
        while snapshot is not None:
            await response.write((json.dumps(snapshot) + "\n").encode())
            await asyncio.sleep(STREAM_INTERVAL)
            if request.transport is None or request.transport.is_closing():
                break
            snapshot = platform.router.metrics(app.id)  # None once the app is destroyed: end the stream
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response
