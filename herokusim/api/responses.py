"""api/responses: what every handler of the Platform API shares — the platform a request is for, answers in
JSON, Heroku's error shape, and lists paged by the `Range` header."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from herokusim.api.ranges import apply_range, parse_range

if TYPE_CHECKING:
    from herokusim.platform import Platform

JSON_TYPE = "application/json"
PLATFORM: web.AppKey[Platform] = web.AppKey("platform")  # the one the API serves (aiohttp's typed app key)


def platform_of(request: web.Request) -> Platform:
    return request.app[PLATFORM]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type=JSON_TYPE, headers=headers)


def error_response(status: int, error_id: str, message: str) -> web.Response:
    """Heroku's error shape: {"id": "not_found", "message": "..."}."""
    return json_response({"id": error_id, "message": message}, status)


def ranged(request: web.Request, items: list[dict[str, Any]], default_field: str,
           fields: tuple[str, ...], presorted: bool = False) -> web.Response:
    """A list answer, one page of it as the request's `Range` asks (206 and `Next-Range` when more follow),
    with `Accept-Ranges` (the fields it sorts by) and `Content-Range` (what this page holds). `presorted`:
    asked for without a Range, the list keeps the order `items` has (the default domain first, say)."""
    header = request.headers.get("Range")
    rng = parse_range(header, default_field, fields)
    if presorted and not (header and header.strip()):
        rng = replace(rng, sort=False)
    page, next_range = apply_range(items, rng)
    headers = {"Accept-Ranges": ", ".join(fields)}
    if page:
        first, last = page[0].get(rng.field), page[-1].get(rng.field)
        headers["Content-Range"] = f"{rng.field} {first}..{last}; max={rng.max}, order={rng.order}"
    if next_range:
        return json_response(page, 206, {**headers, "Next-Range": next_range})
    return json_response(page, headers=headers)
