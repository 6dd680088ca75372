"""addons/provider: the one interface every add-on service implements, and the catalogue of services.

The add-on room (addons/manager.py) owns the records (store/), the releases, config vars and restarts an
add-on change makes, the CLI's and API's shapes. A provider owns only its service: the server behind it
(started and stopped with the daemon, restarted when it dies), provisioning and deprovisioning one
add-on's resources, the config vars those resources export, health, plan limits and info lines.
Providers never touch the store, releases or dynos.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Plan:
    """One plan of a service, as Heroku names it (`essential-0`); `limits` are what the provider enforces
    and reports (e.g. {"connections": 20, "storage_mb": 1024} or {"maxmemory_mb": 25, "policy": "noeviction"})."""

    name: str  # the part after the colon: `essential-0`
    human_name: str  # `Essential 0`
    price_cents: int  # per month, as Heroku's plan lists it
    limits: dict[str, Any] = field(default_factory=dict)
    default: bool = False


@dataclass(frozen=True)
class Service:
    """An add-on service (`heroku-postgresql`), its plans and how its add-ons are named and attached."""

    name: str  # `heroku-postgresql`
    human_name: str  # `Heroku Postgres`
    plans: tuple[Plan, ...]
    attachment_name: str  # the default attachment name, the config vars' prefix: `DATABASE`, `REDIS`
    name_prefix: str  # generated add-on names: `postgresql` -> `postgresql-curved-12345`
    config_suffixes: tuple[str, ...] = ("URL",)  # the vars an attachment gets: DATABASE_URL

    def plan(self, name: str | None) -> Plan | None:
        """The plan by its short (`essential-0`) or full (`heroku-postgresql:essential-0`) name; the default
        plan for None."""
        if name is None:
            return next((p for p in self.plans if p.default), self.plans[0])
        short = name.removeprefix(f"{self.name}:")
        return next((p for p in self.plans if p.name == short), None)


@dataclass(frozen=True)
class Provisioned:
    """What provisioning one add-on made: its provider id (what the provider finds it by later) and its
    config, keyed by suffix (`{"URL": "postgres://..."}`); the manager prefixes each suffix with the
    attachment's name (DATABASE_URL, HEROKU_POSTGRESQL_MAROON_URL)."""

    provider_id: str
    config: dict[str, str]


@dataclass(frozen=True)
class AddonNetwork:
    """Where add-on servers listen and what their URLs name. Never all interfaces: loopback, plus the Docker
    bridge's gateway when Docker dynos must reach them (`advertise` is then `host.docker.internal`, which
    every dyno container resolves to that gateway); on the process runtime both are 127.0.0.1."""

    listen: tuple[str, ...] = ("127.0.0.1",)
    advertise: str = "127.0.0.1"


Events = Callable[[str], None]  # a provider's own events (`server exited: restarting`), for the daemon's log


class Provider(Protocol):
    """One service's provider. Every method may block on its server: the manager awaits them.

    Constructed by the manager as `Provider(settings, network, events)`: `settings.home` holds its data
    (under `HEROKUSIM_HOME/addons/<service>/`), `network` where to listen, `events` what to report."""

    service: Service

    async def start(self) -> None:
        """With the daemon, once any add-on of this service exists (or at the first provision): start the
        server, or adopt the one a previous daemon left running. Idempotent."""
        ...

    async def stop(self) -> None:
        """With the daemon: stop the server, keeping its data."""
        ...

    async def provision(self, addon_id: str, app_name: str, plan: Plan, options: dict[str, str]
                        ) -> Provisioned:
        """Make one add-on's resources (a database and role, a password, a job list...). `options`: the
        `-- --flag value` options of addons:create (e.g. {"follow": "DATABASE_URL"} after the manager
        resolved it). Raises AddonError with a one-line message on bad options."""
        ...

    async def deprovision(self, provider_id: str) -> None:
        """Remove one add-on's resources and data (its backups, if any, are kept until deleted)."""
        ...

    async def health(self, provider_id: str) -> str:
        """`available`, `creating`, `unavailable: why`: the add-on's state as addons:info shows it."""
        ...

    async def info(self, provider_id: str) -> list[tuple[str, str]]:
        """The lines of the service's own info command (pg:info, redis:info): (label, value) pairs."""
        ...

    async def metrics(self, provider_id: str) -> dict[str, str]:
        """Heroku's `sample#...` fields for the app log's metrics line (`sample#db_size=8MB`,
        `sample#active-connections=2`); empty for a service that logs none."""
        ...


class DeployListener(Protocol):
    """Optional, beside Provider: a provider that also has this method is told of each deploy of an app its
    add-on is attached to, once the deploy's release is live (deployhooks posts it). It runs in its own task
    and never holds the release; what it returns is the app log's `heroku[<service>]` line."""

    async def deployed(self, provider_id: str, fields: dict[str, str]) -> str:
        """`fields`: Heroku's deploy hook fields (app, user, url, head, head_long, prev_head, git_log,
        release). Raises AddonError with the line to log when the notification failed."""
        ...


class AddonError(Exception):
    """A one-line reason an add-on operation cannot be done; nothing was changed."""
