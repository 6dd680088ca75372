"""TUI room: the Platform API calls the TUI makes — the only door from the TUI to the daemon.

Every screen talks to an `Api`; tests replace it with one that answers from recorded responses, so the
screens never know whether a daemon is behind them. The HTTP, the token, the errors and the streaming are
herokusim.client's, shared with the CLI; this module adds only the TUI's calls and `Target`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from herokusim.client import AsyncClient, app_path, load_token
from herokusim.config import Settings


@dataclass(frozen=True)
class Target:
    """Where the daemon listens and how to prove who we are."""

    api_url: str
    router_port: int
    token: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Target:
        """The daemon these settings name; ApiError when there is no token to reach it with."""
        return cls(settings.api_url, settings.router_port, load_token(settings))


class Api(AsyncClient):
    """The Platform API calls the TUI makes. `request` and `log_lines` are the two seams tests replace."""

    not_running = "The daemon is not answering at {api_url}; is `herokusim up` running?"

    def __init__(self, target: Target) -> None:
        super().__init__(target.api_url, target.token)
        self.target = target

    @property
    def router_port(self) -> int:
        return self.target.router_port

    def now(self) -> datetime:
        """Wall-clock now: ages on screen use it only when the daemon offers no /clock (recorded tests
        freeze it)."""
        return datetime.now(UTC)

    async def log_lines(self, app: str, lines: int = 200) -> AsyncIterator[list[str]]:
        """The app's merged log stream, history first, then live lines: each item is the lines that arrived
        together (one network read), so a flood costs one step per read, not one per line."""
        session = await self.request("POST", app_path(app, "log-sessions"), {"lines": lines, "tail": True})
        async for batch in self.stream_batches(session["logplex_url"]):
            yield batch

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

    # --- add-ons -----------------------------------------------------------------------------------------

    async def addons(self, app: str) -> list[dict[str, Any]]:
        return await self.request("GET", app_path(app, "addons"))

    async def addon_attachments(self, app: str) -> list[dict[str, Any]]:
        return await self.request("GET", app_path(app, "addon-attachments"))

    async def pg_info(self, app: str, addon: str) -> dict[str, Any]:
        """pg:info's lines for a heroku-postgresql add-on (`info: [{"name", "values"}]`); the daemon runs SQL
        on the add-on's server for it, so the screen asks seldom."""
        return await self.request("GET", app_path(app, "addons", addon, "pg-info"))

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
        async for batch in self.stream_path_batches(app_path(app, "builds", build_id, "result"),
                                                    "build output stream"):
            yield batch


async def wait_closed(api: Api) -> None:
    """Close the client without letting a shutdown error reach the user."""
    try:
        await api.aclose()
    except (httpx.HTTPError, RuntimeError, asyncio.CancelledError):
        pass
