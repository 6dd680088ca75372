"""api/pg_api: Heroku Postgres's own commands (pg:info, pg:psql, pg:credentials:url, pg:reset, pg:ps, pg:kill,
pg:promote) as sub-resources of an app's add-on: `/apps/{app}/addons/{addon}/pg-*`. Heroku's CLI talks to
Heroku Postgres's own API for these; herokusim serves them itself (herokusim's resources, schemas
tests/schemas/herokusim-pg-*.json). `{addon}` is an add-on id or name, or an attachment name on the app
(DATABASE, DATABASE_URL, HEROKU_POSTGRESQL_AMBER_URL); each handler resolves it with platform.addons.find and
calls the started provider (addons/postgres.py)."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from herokusim.addons.provider import AddonError
from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of
from herokusim.errors import InvalidParams, NotFound
from herokusim.store.models import Addon, App

if TYPE_CHECKING:
    from herokusim.addons.postgres import PostgresProvider

routes = web.RouteTableDef()
POSTGRES = "heroku-postgresql"
BASE = "/apps/{app}/addons/{addon}"


async def _database(request: web.Request) -> tuple[App, Addon, PostgresProvider]:
    """The app, its Heroku Postgres add-on named in the path, and the started provider."""
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    addon = await platform.addons.find(request.match_info["addon"], app)
    if addon.service != POSTGRES:
        raise InvalidParams(f"{addon.name} is a {addon.service} add-on, not a {POSTGRES} database.")
    try:
        provider = await platform.addons.provider_of(addon)
    except AddonError as exc:
        raise InvalidParams(f"{addon.name} is unavailable: {exc}") from None
    return app, addon, provider  # type: ignore[return-value]


def _ref(app: App, addon: Addon) -> dict[str, Any]:
    return {"addon": {"id": addon.id, "name": addon.name}, "app": {"id": app.id, "name": app.name}}


async def _attachment_names(request: web.Request, app: App, addon: Addon) -> list[str]:
    """The add-on's attachment names on `app`, DATABASE first (Heroku's pg:info header order)."""
    names = [a.name for a in await platform_of(request).store.list_attachments(app_id=app.id)
             if a.addon_id == addon.id]
    return sorted(names, key=lambda n: (n != "DATABASE", n))


@routes.get(BASE + "/pg-info")
async def pg_info(request: web.Request) -> web.Response:
    """pg:info's lines, as Heroku Postgres's API gives them: `info: [{"name": "Plan", "values": [...]}]`, with
    the add-on's name in `Add-on` and `Billing App` when another app pays for it."""
    app, addon, provider = await _database(request)
    try:
        lines = await provider.info(addon.provider_id)
    except AddonError as exc:
        lines = [("Status", f"Unavailable: {exc}")]
    info = [{"name": name, "values": [value] if value else []} for name, value in lines if name != "Add-on"]
    billing = await platform_of(request).store.get_app(addon.app_id)
    if billing is not None and billing.id != app.id:
        info.append({"name": "Billing App", "values": [billing.name]})
    info.append({"name": "Add-on", "values": [addon.name]})
    return json_response({**_ref(app, addon), "plan": {"name": f"{addon.service}:{addon.plan}"},
                          "attachment_names": await _attachment_names(request, app, addon), "info": info})


@routes.get(BASE + "/pg-credentials")
async def pg_credentials(request: web.Request) -> web.Response:
    """pg:credentials:url: the default credential's parts and its URL (the one DATABASE_URL holds)."""
    app, addon, provider = await _database(request)
    try:
        url = provider.credentials_url(addon.provider_id)
    except AddonError as exc:
        raise NotFound(f"{addon.name} has no credentials: {exc}") from None
    parts = urlsplit(url)
    return json_response({**_ref(app, addon), "name": "default", "state": "active",
                          "database": parts.path.lstrip("/"), "host": parts.hostname, "port": parts.port,
                          "user": parts.username, "password": parts.password, "url": url})


@routes.get(BASE + "/pg-psql")
async def pg_psql_session(request: web.Request) -> web.Response:
    """How to run the bundled psql against the database on this machine (interactive pg:psql: the CLI execs
    it). It goes through the server's unix socket, which only the daemon's user (and root) can reach."""
    app, addon, provider = await _database(request)
    try:
        argv = provider.psql_argv(addon.provider_id)
    except AddonError as exc:
        raise NotFound(f"{addon.name} cannot be reached: {exc}") from None
    return json_response({**_ref(app, addon), "argv": argv})


# psql meta-commands that act on the machine psql runs on — here the daemon's, not the user's as on Heroku:
# a shell (`\!`, `\o |cmd`, editors), files (`\i`, `\o`, `\w`, `\copy`, large objects, `\s`), the cwd
_FILE_OR_SHELL = re.compile(r"\\(?:!|(?:o|out|g|gx|w|write|copy|i|include|ir|include_relative|lo_import|lo_export"
                            r"|cd|setenv|s|e|edit|ef|ev|getenv)(?![A-Za-z_]))")


@routes.post(BASE + "/pg-psql")
async def pg_psql_run(request: web.Request) -> web.Response:
    """pg:psql -c SQL (`{"command": SQL}`) or a script on psql's stdin (`{"input": TEXT}`), run by the daemon
    with the bundled psql: psql's stdout, stderr and exit code."""
    app, addon, provider = await _database(request)
    body = await read_body(request)
    command, text = body.get("command"), body.get("input")
    if (command is None) == (text is None) or not isinstance(command if text is None else text, str):
        raise InvalidParams('Give one of command (an SQL string: {"command": "SELECT 1"}) or input (a script).')
    if found := _FILE_OR_SHELL.search(command if text is None else text):
        raise InvalidParams(f"psql's {found.group(0).strip()} reaches files or a shell on the daemon's machine, so "
                            "pg:psql -c/-f refuses it: run your own psql with `herokusim pg:credentials:url`.")
    try:
        argv = provider.psql_argv(addon.provider_id)
    except AddonError as exc:
        raise NotFound(f"{addon.name} cannot be reached: {exc}") from None
    if command is not None:
        argv = [*argv, "-c", command]
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate((text or "").encode())
    return json_response({**_ref(app, addon), "stdout": out.decode(errors="replace"),
                          "stderr": err.decode(errors="replace"), "exit_code": proc.returncode})


@routes.post(BASE + "/pg-reset")
async def pg_reset(request: web.Request) -> web.Response:
    """pg:reset: every table and row gone; the database, its credentials and URL stay. The CLI asks for
    --confirm APP; the API takes `{"confirm": APP}` too, so a stray POST destroys nothing."""
    app, addon, provider = await _database(request)
    body = await read_body(request)
    if body.get("confirm") != app.name:
        raise InvalidParams(f'Confirm with the app\'s name: {{"confirm": "{app.name}"}}. Nothing was reset.')
    try:
        await provider.reset(addon.provider_id)
    except AddonError as exc:
        raise InvalidParams(f"{addon.name} could not be reset: {exc}") from None
    return json_response({**_ref(app, addon), "reset": True})


@routes.get(BASE + "/pg-ps")
async def pg_ps(request: web.Request) -> web.Response:
    """pg:ps: the database's connections running a query (`?verbose=true`: idle ones too)."""
    app, addon, provider = await _database(request)
    verbose = request.query.get("verbose", "false").lower() in ("1", "true", "yes")
    try:
        connections = await provider.ps(addon.provider_id, verbose=verbose)
    except AddonError as exc:
        raise InvalidParams(f"{addon.name} is unavailable: {exc}") from None
    return json_response({**_ref(app, addon), "connections": connections})


@routes.post(BASE + "/pg-kill")
async def pg_kill(request: web.Request) -> web.Response:
    """pg:kill: `{"pid": 1234}` cancels that connection's query; with `"force": true` ends the connection."""
    app, addon, provider = await _database(request)
    body = await read_body(request)
    pid, force = body.get("pid"), body.get("force", False)
    if isinstance(pid, str) and pid.strip().isdigit():
        pid = int(pid)
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not isinstance(force, bool):
        raise InvalidParams('pid must be a connection\'s process id (pg:ps shows them): {"pid": 1234, '
                            '"force": false}.')
    try:
        await provider.kill(addon.provider_id, pid, force=force)
    except AddonError as exc:
        raise NotFound(f"{addon.name}: {exc}.") from None
    function = "pg_terminate_backend" if force else "pg_cancel_backend"
    return json_response({**_ref(app, addon), "pid": pid, "force": force, "function": function})


@routes.post(BASE + "/pg-promote")
async def pg_promote(request: web.Request) -> web.Response:
    """pg:promote: the add-on becomes the app's DATABASE (DATABASE_URL); the one that was keeps its color
    attachment. The releases made: an alias for the old database if it had none, `Detach DATABASE`,
    `Attach DATABASE`."""
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    addon = await platform.addons.find(request.match_info["addon"], app)
    alias, releases = await platform.addons.promote(addon, app)
    return json_response({**_ref(app, addon), "previous_alias": alias,
                          "releases": [{"id": r.id, "version": r.version, "description": r.description}
                                       for r in releases]})
