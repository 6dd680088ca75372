"""api/pgbackups_api: Heroku PGBackups under herokusim's own paths (Heroku's CLI talks to its Postgres API's
/client/v11 transfers; herokusim serves the same transfers here), over platform.pgbackups:

    GET    /apps/{app}/postgres-backups                       backups and restores, oldest first
    POST   /apps/{app}/postgres-backups                       {"database": "DATABASE"}: capture (201, running)
    GET    /apps/{app}/postgres-backups/{backup}              one transfer (b001, a002, r003, or latest)
    DELETE /apps/{app}/postgres-backups/{backup}              delete a backup and its dump
    POST   /apps/{app}/postgres-backups/{backup}/actions/public-url   a signed URL of the dump, 1 hour
    POST   /apps/{app}/postgres-restores                      {"backup": "b001"|"latest"|"APP::b001",
                                                               "database": "DATABASE"}: restore (201, running)
    GET    /apps/{app}/postgres-backup-schedules              daily schedules
    POST   /apps/{app}/postgres-backup-schedules              {"database": "DATABASE", "at": "02:00 UTC"}
    DELETE /apps/{app}/postgres-backup-schedules/{database}   unschedule
    GET    /blobs/pg-backups/{transfer}?expires=&signature=   the dump (no token: the signature is the secret)
"""

from __future__ import annotations

import asyncio
import hmac
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.addons.pgbackups import parse_at
from herokusim.api.blobs import blob_signature
from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of
from herokusim.errors import InvalidParams, NotFound, PlatformError
from herokusim.store.models import App, PgSchedule, PgTransfer

if TYPE_CHECKING:
    from herokusim.platform import Platform

routes = web.RouteTableDef()
URL_LIFETIME = 3600  # seconds of simulated time a public URL stays valid (Heroku: 60 minutes)


def transfer_json(app: App, t: PgTransfer) -> dict[str, Any]:
    backup = t.kind == "backup"
    return {
        "id": t.id, "num": t.num, "name": t.name, "app": {"id": app.id, "name": app.name},
        "addon": {"id": t.addon_id, "name": t.addon_name},
        "kind": t.kind, "schedule": t.scheduled,
        "from_type": "pg_dump" if backup else "gof3r", "to_type": "gof3r" if backup else "pg_restore",
        "from_name": t.from_name, "to_name": t.to_name, "status": t.status,
        "succeeded": t.status == "completed", "warnings": t.warnings,
        "source_bytes": t.source_bytes, "processed_bytes": t.processed_bytes, "logs": t.logs,
        "created_at": t.created_at, "started_at": t.started_at, "finished_at": t.finished_at,
    }


def schedule_json(platform: Platform, app: App, s: PgSchedule) -> dict[str, Any]:
    return {"id": s.id, "app": {"id": app.id, "name": app.name}, "addon": {"id": s.addon_id},
            "name": s.name, "hour": s.hour, "timezone": s.timezone, "created_at": s.created_at}


async def _app(request: web.Request) -> App:
    return await platform_of(request).find_app(request.match_info["app"])


def _optional(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InvalidParams(f"{key} must be a non-empty string.")
    return value.strip() if isinstance(value, str) else None


@routes.get("/apps/{app}/postgres-backups")
async def list_transfers(request: web.Request) -> web.Response:
    app = await _app(request)
    return json_response([transfer_json(app, t) for t in await platform_of(request).pgbackups.transfers(app)])


@routes.post("/apps/{app}/postgres-backups")
async def capture(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await _app(request)
    body = await read_body(request)
    transfer = await platform.pgbackups.capture(app, _optional(body, "database"))
    return json_response(transfer_json(app, transfer), 201)


@routes.get("/apps/{app}/postgres-backups/{backup}")
async def get_transfer(request: web.Request) -> web.Response:
    app = await _app(request)
    ref = request.match_info["backup"]
    transfer = await platform_of(request).pgbackups.find(app, ref, kind="backup" if ref == "latest" else "any")
    return json_response(transfer_json(app, transfer))


@routes.delete("/apps/{app}/postgres-backups/{backup}")
async def delete_transfer(request: web.Request) -> web.Response:
    app = await _app(request)
    transfer = await platform_of(request).pgbackups.delete(app, request.match_info["backup"])
    return json_response(transfer_json(app, transfer))


@routes.post("/apps/{app}/postgres-backups/{backup}/actions/public-url")
async def public_url(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await _app(request)
    transfer = await platform.pgbackups.find(app, request.match_info["backup"])
    if transfer.status != "completed":
        raise InvalidParams(f"Backup {transfer.name} did not complete successfully: it has no dump.")
    expires = int(platform.clock.time()) + URL_LIFETIME
    signature = blob_signature(platform.token, "pg-backup", f"{transfer.id}:{expires}")
    url = f"{platform.settings.api_url}/blobs/pg-backups/{transfer.id}?expires={expires}&signature={signature}"
    expires_at = datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z")
    return json_response({"url": url, "expires_at": expires_at,
                          "backup": transfer_json(app, transfer)})


@routes.post("/apps/{app}/postgres-restores")
async def restore(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await _app(request)
    body = await read_body(request)
    transfer = await platform.pgbackups.restore(app, _optional(body, "backup"), _optional(body, "database"))
    return json_response(transfer_json(app, transfer), 201)


@routes.get("/apps/{app}/postgres-backup-schedules")
async def list_schedules(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await _app(request)
    return json_response([schedule_json(platform, app, s) for s in await platform.pgbackups.schedules(app)])


@routes.post("/apps/{app}/postgres-backup-schedules")
async def create_schedule(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await _app(request)
    body = await read_body(request)
    at = _optional(body, "at")
    if at is None:
        raise InvalidParams("""at is required: {"at": "02:00 America/New_York"}.""")
    hour, zone, warning = parse_at(at)
    schedule = await platform.pgbackups.schedule(app, _optional(body, "database"), hour, zone)
    return json_response({**schedule_json(platform, app, schedule), "warnings": [warning] if warning else []}, 201)


@routes.delete("/apps/{app}/postgres-backup-schedules/{database}")
async def delete_schedule(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await _app(request)
    schedule = await platform.pgbackups.unschedule(app, request.match_info["database"])
    return json_response(schedule_json(platform, app, schedule))


class _Forbidden(PlatformError):
    status = 403
    id = "forbidden"


@routes.get("/blobs/pg-backups/{transfer}")
async def download(request: web.Request) -> web.StreamResponse:
    platform = platform_of(request)
    transfer_id = request.match_info["transfer"]
    expires = request.query.get("expires", "")
    expected = blob_signature(platform.token, "pg-backup", f"{transfer_id}:{expires}")
    offered = request.query.get("signature", "")
    if not hmac.compare_digest(offered.encode("utf-8", "surrogateescape"), expected.encode()):
        raise _Forbidden("This backup URL's signature is missing or wrong: use the URL pg:backups:url gave.")
    if not expires.isdigit() or int(expires) < platform.clock.time():
        raise _Forbidden("This backup URL has expired: get another with pg:backups:url.")
    path = None
    for app in await platform.store.list_apps():
        for transfer in await platform.store.list_pg_transfers(app.id):
            if transfer.id == transfer_id:
                path = transfer.path
    if not path or not await asyncio.to_thread(os.path.isfile, path):
        raise NotFound("That backup is gone (deleted, or its app was destroyed).")
    return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})
