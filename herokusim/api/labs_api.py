"""api/labs_api: the classroom labs' progress, herokusim's own resource (no Heroku counterpart), kept in the
store's lab_progress table and written by `herokusim labs:*` (cli/labs_cmds.py) and the TUI's labs screen.

    GET    /labs                  every lab started, in number order
    GET    /labs/{number}         one lab's record; `not started` (nothing stored) for a lab never started
    PUT    /labs/{number}         {"state": "started"|"passed", "apps": {"app": "lab6-port-7f2c"},
                                   "checkout": "/home/me/lab06-port-r10",
                                   "last_check": {"passed": false, "observation": "...", "hint": "...",
                                                  "at": "2026-11-29T05:00:00Z"}}
    DELETE /labs/{number}         progress forgotten (labs:reset); answers the record as it was
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of
from herokusim.errors import InvalidParams, NotFound

routes = web.RouteTableDef()
STATES = ("started", "passed")
MAX_LAB = 99  # lab numbers are 1..21 today; room for more without a schema change


def _number(request: web.Request) -> int:
    text = request.match_info["number"]
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LAB:
        raise NotFound(f"Couldn't find that lab ({text[:20]}): labs are numbered 1 to 21.")
    return int(text)


def _not_started(number: int) -> dict[str, Any]:
    return {"number": number, "state": "not started", "apps": {}, "checkout": None, "last_check": None,
            "started_at": None, "updated_at": None}


def _last_check(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("passed") not in (True, False, None) \
            or not isinstance(value.get("observation", ""), str) or not isinstance(value.get("hint", ""), str) \
            or not isinstance(value.get("at", ""), str):
        raise InvalidParams('last_check must be {"passed": true|false|null, "observation": "...", "hint": "...", '
                            '"at": "..."}.')
    return {"passed": value.get("passed"), "observation": value.get("observation", ""),
            "hint": value.get("hint", ""), "at": value.get("at")}


@routes.get("/labs")
async def list_labs(request: web.Request) -> web.Response:
    return json_response(await platform_of(request).store.list_lab_progress())


@routes.get("/labs/{number}")
async def get_lab(request: web.Request) -> web.Response:
    number = _number(request)
    found = await platform_of(request).store.get_lab_progress(number)
    return json_response(found or _not_started(number))


@routes.put("/labs/{number}")
async def put_lab(request: web.Request) -> web.Response:
    number = _number(request)
    store = platform_of(request).store
    body = await read_body(request)
    unknown = sorted(set(body) - {"state", "apps", "checkout", "last_check"})
    if unknown:
        raise InvalidParams(f"Unknown field {unknown[0]!r}: a lab has state, apps, checkout and last_check.")
    known = await store.get_lab_progress(number) or _not_started(number)
    state = body.get("state", known["state"])
    if state not in STATES:
        raise InvalidParams(f"state must be one of {', '.join(STATES)}.")
    apps = body.get("apps", known["apps"])
    if not isinstance(apps, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in apps.items()):
        raise InvalidParams('apps must be the lab\'s app names by role: {"app": "lab6-port-7f2c"}.')
    checkout = body.get("checkout", known["checkout"])
    if checkout is not None and not isinstance(checkout, str):
        raise InvalidParams("checkout must be a path (a string) or null.")
    last_check = _last_check(body["last_check"]) if "last_check" in body else known["last_check"]
    await store.put_lab_progress(number, state, apps, checkout, last_check)
    return json_response(await store.get_lab_progress(number))


@routes.delete("/labs/{number}")
async def delete_lab(request: web.Request) -> web.Response:
    number = _number(request)
    store = platform_of(request).store
    found = await store.get_lab_progress(number)
    if found is None:
        raise NotFound(f"Lab {number} has no progress to forget.")
    await store.delete_lab_progress(number)
    return json_response(found)
