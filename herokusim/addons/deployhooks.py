"""addons/deployhooks: Heroku's Deploy Hooks add-on, plan `http` — after each deploy, an HTTP POST of the
deploy's fields to a URL given at creation:

    herokusim addons:create deployhooks:http --url=http://127.0.0.1:9000/hook -a demo

No server: provisioning checks the URL (http or https, with a host) and keeps it in
HEROKUSIM_HOME/addons/deployhooks/<id>.json. The POST is a form (application/x-www-form-urlencoded) with
Heroku's fields `app`, `user`, `url`, `head` (7 hex digits), `head_long`, `prev_head`, `git_log`, `release`
(`v12`); the outcome is logged as `heroku[deployhooks]` in the app's log, and a failure never holds the
release. Like Heroku's, any http(s) host is allowed (on this machine usually a loopback one); environment
proxies are not used.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from herokusim.addons.provider import AddonError, AddonNetwork, Events, Plan, Provisioned, Service

SERVICE = Service(
    name="deployhooks",
    human_name="Deploy Hooks",
    plans=(Plan("http", "HTTP Post Hook", 0, default=True),),
    attachment_name="DEPLOYHOOKS",
    name_prefix="deployhooks",
    config_suffixes=(),  # a deploy hook exports no config vars
)
POST_TIMEOUT = 30.0  # seconds a hook's server may take to answer


def check_url(url: str | None) -> str:
    if not url:
        raise AddonError("deployhooks:http needs the URL to post to: -- --url=https://example.com/hook")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddonError(f"Invalid URL {url!r}: use an http:// or https:// URL with a host.")
    return url


class DeployHooksProvider:
    service = SERVICE

    def __init__(self, settings: Any, network: AddonNetwork, events: Events) -> None:
        self.dir = Path(settings.home) / "addons" / SERVICE.name
        self.events = events

    def _path(self, provider_id: str) -> Path:
        if not provider_id.isalnum():
            raise AddonError(f"no such deploy hook ({provider_id})")
        return self.dir / f"{provider_id}.json"

    def _read(self, provider_id: str) -> dict[str, str]:
        try:
            return json.loads(self._path(provider_id).read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            raise AddonError(f"the deploy hook {provider_id} has no settings") from None

    async def start(self) -> None:
        await asyncio.to_thread(self.dir.mkdir, parents=True, exist_ok=True)

    async def stop(self) -> None:
        return None

    async def provision(self, addon_id: str, app_name: str, plan: Plan, options: dict[str, str]) -> Provisioned:
        unknown = sorted(set(options) - {"url"})
        if unknown:
            raise AddonError(f"deployhooks:http takes only --url (not --{unknown[0]}).")
        url = check_url(options.get("url"))
        provider_id = secrets.token_hex(8)
        await self.start()
        data = json.dumps({"url": url, "addon_id": addon_id, "app": app_name})
        await asyncio.to_thread(self._path(provider_id).write_text, data)
        return Provisioned(provider_id, {})

    def leftovers(self, addon_ids: set[str]) -> list[str]:
        """The hooks whose add-on is not among `addon_ids` (a daemon killed before recording the add-on)."""
        found = []
        for path in sorted(self.dir.glob("*.json")) if self.dir.is_dir() else []:
            try:
                addon_id = json.loads(path.read_text()).get("addon_id")
            except (OSError, ValueError, AttributeError):
                addon_id = None
            if addon_id not in addon_ids and path.stem.isalnum():
                found.append(path.stem)
        return found

    async def deprovision(self, provider_id: str) -> None:
        await asyncio.to_thread(self._path(provider_id).unlink, missing_ok=True)

    async def health(self, provider_id: str) -> str:
        return "available" if self._path(provider_id).exists() else "unavailable: its settings are gone"

    async def info(self, provider_id: str) -> list[tuple[str, str]]:
        return [("URL", self._read(provider_id).get("url", ""))]

    async def metrics(self, provider_id: str) -> dict[str, str]:
        return {}

    async def deployed(self, provider_id: str, fields: dict[str, str]) -> str:
        url = self._read(provider_id)["url"]
        try:
            async with httpx.AsyncClient(timeout=POST_TIMEOUT, trust_env=False) as client:
                reply = await client.post(url, data=fields)
        except httpx.HTTPError as exc:
            raise AddonError(f"HTTP POST to {url} failed: {exc or type(exc).__name__}") from None
        if reply.status_code >= 400:
            raise AddonError(f"HTTP POST to {url} failed: {reply.status_code} {reply.reason_phrase}")
        return f"Sent HTTP POST to {url} ({reply.status_code})"
