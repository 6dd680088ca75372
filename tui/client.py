"""TUI room: the asynchronous Platform API client — the only door from the TUI to the daemon.

Every screen talks to an `Api`; tests replace it with one that answers from recorded responses, so the
screens never know whether a daemon is behind them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from herokusim.config import Settings

ACCEPT = "application/vnd.heroku+json; version=3"
REQUEST_TIMEOUT = 30.0  # seconds; loopback, so only a stuck daemon takes this long
STREAM_CONNECT_TIMEOUT = 10.0


class ApiError(Exception):
    """An answer the user should read: the API's own message, or what went wrong on the way."""

    def __init__(self, message: str, status: int = 0, error_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.id = error_id


class Unavailable(ApiError):
    """The daemon does not offer this endpoint (yet): its pane stays empty and says so."""


def app_path(app: str, *rest: str) -> str:
    return "/".join(["/apps", *(quote(part, safe="") for part in (app, *rest))])


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Target:
    """Where the daemon listens and how to prove who we are."""

    api_url: str
    router_port: int
    token: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Target:
        token = os.environ.get("HEROKUSIM_API_KEY", "").strip()
        if not token:
            try:
                token = settings.token_path.read_text().strip()
            except OSError:
                raise ApiError(f"No API token at {settings.token_path}: start the daemon with `herokusim up`.") \
                    from None
        return cls(settings.api_url, settings.router_port, token)


def _error_of(response: httpx.Response) -> ApiError:
    message, error_id = "", ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = str(body.get("message") or "")
        error_id = str(body.get("id") or "")
    message = message or f"{response.status_code} {response.reason_phrase}"
    missing_endpoint = (response.status_code == 404 and "API endpoint" in message) or response.status_code == 405
    kind = Unavailable if missing_endpoint else ApiError
    return kind(message, response.status_code, error_id)


class Api:
    """The Platform API calls the TUI makes. `request` and `log_lines` are the two seams tests replace."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._http = httpx.AsyncClient(base_url=target.api_url, timeout=REQUEST_TIMEOUT,
                                       headers={"Accept": ACCEPT, "Authorization": f"Bearer {target.token}"})

    @property
    def router_port(self) -> int:
        return self.target.router_port

    def now(self) -> datetime:
        """Wall-clock now: ages on screen use it only when the daemon offers no /clock (recorded tests
        freeze it)."""
        return datetime.now(UTC)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, json: Any = None, range_: str | None = None,
                      text: bool = False) -> Any:
        """One API call: the decoded JSON answer (or the body as text), or ApiError with the API's message."""
        headers = {"Range": range_} if range_ else None
        try:
            response = await self._http.request(method, path, json=json, headers=headers)
        except httpx.ConnectError:
            raise ApiError(f"The daemon is not answering at {self.target.api_url}; is `herokusim up` running?") \
                from None
        except httpx.TimeoutException:
            raise ApiError(f"The daemon at {self.target.api_url} did not answer within {REQUEST_TIMEOUT:.0f}s.") \
                from None
        except httpx.HTTPError as exc:
            raise ApiError(f"Lost the connection to the daemon: {exc}") from None
        if not response.is_success:
            raise _error_of(response)
        if text:
            return response.text
        try:
            return response.json() if response.content else None
        except ValueError:
            raise ApiError(f"The daemon answered {method} {path} with something that is not JSON.") from None

    async def log_lines(self, app: str, lines: int = 200) -> AsyncIterator[list[str]]:
        """The app's merged log stream, history first, then live lines: each item is the lines that arrived
        together (one network read), so a flood costs one step per read, not one per line."""
        session = await self.request("POST", app_path(app, "log-sessions"), {"lines": lines, "tail": True})
        timeout = httpx.Timeout(STREAM_CONNECT_TIMEOUT, read=None)
        try:
            async with httpx.AsyncClient(timeout=timeout) as http, \
                    http.stream("GET", session["logplex_url"]) as response:
                async for batch in _lines_of(response):
                    yield batch
        except httpx.HTTPError as exc:
            raise ApiError(f"The log stream broke off: {exc}") from None

    # --- apps ---------------------------------------------------------------------------------------------

    async def apps(self) -> list[dict[str, Any]]:
        return await self.request("GET", "/apps")

    async def app(self, app: str) -> dict[str, Any]:
        return await self.request("GET", app_path(app))

    async def create_app(self, name: str | None) -> dict[str, Any]:
        return await self.request("POST", "/apps", {"name": name} if name else {})

    async def destroy_app(self, app: str) -> None:
        await self.request("DELETE", app_path(app))

    async def set_maintenance(self, app: str, on: bool) -> dict[str, Any]:
        return await self.request("PATCH", app_path(app), {"maintenance": on})

    # --- formation and dynos ------------------------------------------------------------------------------

    async def formation(self, app: str) -> list[dict[str, Any]]:
        return await self.request("GET", app_path(app, "formation"))

    async def dynos(self, app: str) -> list[dict[str, Any]]:
        return await self.request("GET", app_path(app, "dynos"))

    async def scale(self, app: str, process_type: str, quantity: int) -> list[dict[str, Any]]:
        return await self.request("PATCH", app_path(app, "formation"),
                                  {"updates": [{"type": process_type, "quantity": quantity}]})

    async def restart(self, app: str, dyno: str | None = None) -> None:
        await self.request("DELETE", app_path(app, "dynos", dyno) if dyno else app_path(app, "dynos"))

    async def stop(self, app: str, dyno: str) -> None:
        await self.request("POST", app_path(app, "dynos", dyno, "actions", "stop"))

    # --- releases and config ------------------------------------------------------------------------------

    async def releases(self, app: str) -> list[dict[str, Any]]:
        return await self.request("GET", app_path(app, "releases"), range_="version ..; order=desc, max=50")

    async def latest_release(self, app: str) -> dict[str, Any] | None:
        found = await self.request("GET", app_path(app, "releases"), range_="version ..; order=desc, max=1")
        return found[0] if found else None

    async def release_config(self, app: str, version: int) -> dict[str, str]:
        return await self.request("GET", app_path(app, "releases", str(version), "config-vars"))

    async def rollback(self, app: str, release_id: str) -> dict[str, Any]:
        return await self.request("POST", app_path(app, "releases"), {"release": release_id})

    async def config(self, app: str) -> dict[str, str]:
        return await self.request("GET", app_path(app, "config-vars"))

    async def set_config(self, app: str, changes: dict[str, str | None]) -> dict[str, str]:
        return await self.request("PATCH", app_path(app, "config-vars"), changes)

    # --- router, clock, builds ----------------------------------------------------------------------------

    async def router_metrics(self, app: str) -> dict[str, Any]:
        return await self.request("GET", app_path(app, "router-metrics"))

    async def clock(self) -> dict[str, Any]:
        return await self.request("GET", "/clock")

    async def warp(self, seconds: int) -> dict[str, Any]:
        return await self.request("POST", "/clock/warp", {"seconds": seconds})

    async def builds(self, app: str) -> list[dict[str, Any]]:
        return await self.request("GET", app_path(app, "builds"), range_="created_at ..; order=desc, max=5")

    async def build_output(self, app: str, build_id: str) -> str:
        return await self.request("GET", app_path(app, "builds", build_id, "result"), text=True)

    async def build_output_lines(self, app: str, build_id: str) -> AsyncIterator[list[str]]:
        """A running build's output as it is written: the API streams it until the build ends."""
        timeout = httpx.Timeout(STREAM_CONNECT_TIMEOUT, read=None)
        try:
            async with self._http.stream("GET", app_path(app, "builds", build_id, "result"),
                                         timeout=timeout) as response:
                async for batch in _lines_of(response):
                    yield batch
        except httpx.HTTPError as exc:
            raise ApiError(f"The build output stream broke off: {exc}") from None


async def _lines_of(response: httpx.Response) -> AsyncIterator[list[str]]:
    """A streamed text answer as batches of whole lines, one batch per network read."""
    if not response.is_success:
        await response.aread()
        raise _error_of(response)
    rest = ""
    async for chunk in response.aiter_text():
        *complete, rest = (rest + chunk).split("\n")
        if complete:
            yield complete
    if rest:
        yield [rest]


async def wait_closed(api: Api) -> None:
    """Close the client without letting a shutdown error reach the user."""
    try:
        await api.aclose()
    except (httpx.HTTPError, RuntimeError, asyncio.CancelledError):
        pass
