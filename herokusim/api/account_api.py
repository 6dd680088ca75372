"""api/account_api: the account's API rate limit — the token bucket every authenticated request draws from,
and `GET /account/rate-limits`, which reads it without drawing.

Heroku's rule (config.API_RATE_LIMIT): a bucket of 4500 tokens per account refilled at 75 a minute; each API
request takes one, every answer says `RateLimit-Remaining: N`, and an empty bucket answers 429 `rate_limit`.
The daemon is one account, so it has one bucket. The TUI is exempt (it says so with its User-Agent): it
polls an app's screen several times a second, which a real account's bucket could not sustain; the CLI and
every other client pay.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from aiohttp import web

from herokusim.api.responses import json_response
from herokusim.config import API_RATE_REFILL_SECONDS

routes = web.RouteTableDef()


class RateLimit:
    """A token bucket of `size` tokens, refilled continuously by `size` every `refill_seconds` (real time).
    A size of 0 is no limit: every request passes and the bucket always reads full."""

    def __init__(self, size: int, refill_seconds: float = API_RATE_REFILL_SECONDS,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.rate = size / refill_seconds  # tokens per second
        self._now = now
        self._tokens = float(size)
        self._at = now()

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(float(self.size), self._tokens + (now - self._at) * self.rate)
        self._at = now

    @property
    def remaining(self) -> int:
        """The whole tokens left (what RateLimit-Remaining and /account/rate-limits say)."""
        self._refill()
        return math.floor(self._tokens)

    def take(self) -> bool:
        """Take one token for a request; False when the bucket is empty (the request gets a 429)."""
        if self.size == 0:
            return True
        self._refill()
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def seconds_to_next(self) -> int:
        """Whole seconds until the next token (for Retry-After)."""
        self._refill()
        return max(1, math.ceil((1 - self._tokens) / self.rate)) if self.rate else 1


RATE_LIMIT = web.AppKey("rate_limit", RateLimit)
FREE_PATHS = ("/account/rate-limits",)  # reading the bucket does not take from it


def rate_limit_of(request: web.Request) -> RateLimit:
    return request.app[RATE_LIMIT]


@routes.get("/account/rate-limits")
async def rate_limits(request: web.Request) -> web.Response:
    return json_response({"remaining": rate_limit_of(request).remaining})
