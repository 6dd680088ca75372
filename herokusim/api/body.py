"""api/body: a request's JSON body, read and checked in one place for every endpoint of the Platform API.

Strict JSON in UTF-8: an object at the top; no NaN or Infinity, no number too long for Python's int or too big
for a float; no lone surrogate (sqlite cannot store it and no dyno environment can hold it); nesting bounded
by the parser's recursion limit and size by MAX_BODY_BYTES. Anything else is a clear 4xx, never a 500: 400
bad_request for a body that is not JSON, 422 invalid_params for JSON that is not an object of valid text.
"""

from __future__ import annotations

import codecs
import json
import math
from typing import Any

from aiohttp import web

from herokusim.errors import InvalidParams, PlatformError

# The largest body the API reads. The largest real one is a config-var update, at most 32 kB of keys and
# values (config_vars.MAX_CONFIG_BYTES) plus JSON escaping (\u0000 is six bytes for one): 1 MiB leaves room.
MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(PlatformError):
    status = 413
    id = "request_entity_too_large"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large for a number")
    return number


def _has_lone_surrogate(data: Any) -> bool:
    stack = [data]  # a loop, not recursion: the parser already allowed nesting close to the recursion limit
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in item):
            return True
    return False


def _charset_is_utf8(charset: str | None) -> bool:
    if charset is None:
        return True
    try:
        return codecs.lookup(charset).name == "utf-8"
    except LookupError:
        return False


async def read_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object ({} when there is no body)."""
    if not request.can_read_body:
        return {}
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise BodyTooLarge(f"Request body is larger than {MAX_BODY_BYTES} bytes.")
    if not _charset_is_utf8(request.charset):
        raise PlatformError(f"Request body must be JSON in UTF-8, not charset={request.charset}.")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:  # a chunked body has no Content-Length to check first
        raise BodyTooLarge(f"Request body is larger than {MAX_BODY_BYTES} bytes.") from None
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite)
    # A body that cannot be read is Heroku's 400 bad_request; one that reads but holds the wrong thing, 422.
    except ValueError:  # not UTF-8, not JSON, or an int past Python's limit on digits
        raise PlatformError("Request body is not valid JSON.") from None
    except RecursionError:
        raise PlatformError("Request body is nested too deeply.") from None
    if not isinstance(data, dict):
        raise InvalidParams("Request body must be a JSON object.")
    if _has_lone_surrogate(data):
        raise InvalidParams("Request body holds a lone surrogate (\\ud800-\\udfff): send valid Unicode.")
    return data
