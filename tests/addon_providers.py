"""Test-only add-on providers, registered for a test daemon through the documented test hook
HEROKUSIM_TEST_ADDON_PROVIDERS (herokusim/addons/registry.py). They run no server: they show what the add-on
room does with any provider (config vars, Heroku Postgres's attachment names and colors, attach and detach
releases, metrics lines) where deployhooks, which exports no vars, cannot. The real heroku-postgresql
provider (addons/postgres.py) replaces this one once merged.

Every call is appended to HEROKUSIM_HOME/fake-addons.log, so a test can see what was provisioned and removed.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from herokusim.addons.provider import AddonError, AddonNetwork, Events, Plan, Provisioned, Service

SERVICE = Service(
    name="heroku-postgresql",
    human_name="Heroku Postgres (test stand-in)",
    plans=(Plan("essential-0", "Essential 0", 500, {"connections": 20}, default=True),
           Plan("essential-1", "Essential 1", 900, {"connections": 20})),
    attachment_name="DATABASE",
    name_prefix="postgresql",
)


class FakePostgres:
    service = SERVICE

    def __init__(self, settings: Any, network: AddonNetwork, events: Events) -> None:
        self.log = Path(settings.home) / "fake-addons.log"
        self.network = network
        self.events = events

    def _record(self, line: str) -> None:
        with self.log.open("a") as handle:
            handle.write(line + "\n")

    async def start(self) -> None:
        self._record("start")
        self.events("server started")

    async def stop(self) -> None:
        self._record("stop")

    async def provision(self, addon_id: str, app_name: str, plan: Plan, options: dict[str, str]) -> Provisioned:
        if "fail" in options:
            raise AddonError("provisioning refused: --fail was given")
        provider_id = f"db_{secrets.token_hex(4)}"
        self._record(f"provision {provider_id} {plan.name}")
        return Provisioned(provider_id, {"URL": f"postgres://u:p@{self.network.advertise}:5432/{provider_id}"})

    async def deprovision(self, provider_id: str) -> None:
        self._record(f"deprovision {provider_id}")

    async def health(self, provider_id: str) -> str:
        return "available"

    async def info(self, provider_id: str) -> list[tuple[str, str]]:
        return [("Status", "Available")]

    async def metrics(self, provider_id: str) -> dict[str, str]:
        return {"sample#db_size": "8595591bytes", "tables": "5"}
