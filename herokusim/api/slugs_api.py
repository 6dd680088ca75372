"""api/slugs_api: `POST /apps/{app}/slugs` — Heroku's "create slug" flow. The client declares the slug (its
process types, commit, stack...), gets it back with `blob: {"method": "PUT", "url": ...}`, PUTs the tarball
there (api/blobs.py), then releases it with `POST /apps/{app}/releases {"slug": id}`."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from herokusim.api import shapes
from herokusim.api.blobs import slug_blob_url
from herokusim.api.body import read_body
from herokusim.api.responses import json_response, platform_of
from herokusim.api.shapes import STACK_ID
from herokusim.config import STACK
from herokusim.errors import InvalidParams
from herokusim.store.models import new_id

routes = web.RouteTableDef()
PROCESS_TYPE = re.compile(r"[-\w]{1,128}", re.ASCII)  # Heroku's pattern for a process type's name
CHECKSUM = re.compile(r"SHA256:[0-9a-fA-F]{64}")
MAX_FIELD = 4096  # a command, a commit or a description, as a client gives it


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or len(value) > MAX_FIELD or "\0" in value):
        raise InvalidParams(f"{key} must be a string of at most {MAX_FIELD} characters, or null.")
    return value


def _process_types(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise InvalidParams('process_types is required: an object of process type to command, like '
                            '{"web": "python app.py"}.')
    for ptype, command in raw.items():
        if not PROCESS_TYPE.fullmatch(ptype):
            raise InvalidParams(f"Process type {ptype!r} is invalid: use 1 to 128 letters, digits, _ and -.")
        if not isinstance(command, str) or not command.strip() or len(command) > MAX_FIELD or "\0" in command:
            raise InvalidParams(f"The command of process type {ptype} must be a non-empty string.")
    return dict(raw)


@routes.post("/apps/{app}/slugs")
async def create_slug(request: web.Request) -> web.Response:
    platform = platform_of(request)
    app = await platform.find_app(request.match_info["app"])
    body = await read_body(request)
    process_types = _process_types(body.get("process_types"))
    commit = _optional_text(body, "commit")
    description = _optional_text(body, "buildpack_provided_description")
    _optional_text(body, "commit_description")  # checked, not kept: herokusim shows none
    checksum = _optional_text(body, "checksum")
    if checksum is not None and not CHECKSUM.fullmatch(checksum):
        raise InvalidParams(f"checksum {checksum!r} is invalid: give SHA256:<64 hex digits> of the tarball.")
    stack = body.get("stack")
    if stack is not None and stack not in (STACK, STACK_ID):
        raise InvalidParams(f"Stack {stack!r} is not available: herokusim has only {STACK}.")
    slug_id = new_id()
    path = platform.settings.slugs_dir / app.id / f"{slug_id}.tar.gz"
    slug = await platform.store.create_slug(app.id, checksum, None, process_types, commit, STACK, description,
                                            str(path), slug_id=slug_id, uploaded=False)
    # the same URL as GET's: a client PUTs the tarball there once, then it downloads from it
    data = shapes.slug_json(slug, slug_blob_url(platform.settings.api_url, platform.token, slug.id))
    data["blob"]["method"] = "PUT"
    return json_response(data, 201)
