"""addons/manager: the add-on room — add-ons and their attachments (store/), the releases an add-on change
makes (`Attach DATABASE (@ref:postgresql-curved-12345)`), and the providers of addons/registry behind them.

The room uses only the Provider interface (addons/provider.py). Providers are loaded and started lazily: at
daemon start only those of services with add-ons, else at their first provision; a provider that cannot be
loaded fails only the operations that need it. Every change to an app's add-ons holds the app's write lock
(`Store.app_writes`); provisioning happens before anything is recorded, so a failed provision changes
nothing. After each deploy, providers that are also DeployListeners (deployhooks) are told; every few
simulated minutes each add-on's `metrics()` becomes Heroku's metrics line in its app's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import subprocess
from collections.abc import Callable
from typing import Any

from herokusim.addons import registry
from herokusim.addons.provider import AddonError, AddonNetwork, Plan, Provider, Service
from herokusim.clock import Clock, Timer
from herokusim.config import Settings
from herokusim.errors import InvalidParams, NotFound
from herokusim.logplex.hub import Logplex
from herokusim.releases import ReleaseLedger
from herokusim.store.models import Addon, App, Attachment, Release, Slug, new_id
from herokusim.store.sqlite import Store

log = logging.getLogger(__name__)

POSTGRES = "heroku-postgresql"
# Heroku Postgres's attachment colors (HEROKU_POSTGRESQL_<COLOR>_URL), in the order herokusim picks them
COLORS = ("AMBER", "AQUA", "BLACK", "BLUE", "BRONZE", "BROWN", "CHARCOAL", "COBALT", "COPPER", "CRIMSON", "CYAN",
          "GOLD", "GRAY", "GREEN", "IVORY", "JADE", "MAROON", "MAUVE", "NAVY", "OLIVE", "ONYX", "ORANGE", "PINK",
          "PUCE", "PURPLE", "RED", "ROSE", "SILVER", "TEAL", "VIOLET", "WHITE", "YELLOW")
# the words of Heroku's generated add-on names (`postgresql-curved-12345`)
SHAPES = ("curved", "rigid", "shaped", "angular", "flat", "solid", "round", "opaque", "transparent", "cubic",
          "concave", "convex", "spherical", "triangular", "symmetrical", "asymmetrical", "clear", "deep",
          "regular", "polished", "silhouetted", "tapered", "fluffy", "metric", "encircled", "dimensional")
ADDON_NAME = re.compile(r"[a-zA-Z][A-Za-z0-9_-]{1,255}")  # Heroku's add-on name pattern (fullmatch)
ATTACHMENT_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,99}")
METRICS_INTERVAL = 5 * 60  # simulated seconds between two metrics lines of an add-on (Heroku: a few minutes)
# the log process of a service's own lines (`app[heroku-postgres]`, as Heroku names Postgres's)
LOG_PROCESS = {POSTGRES: "heroku-postgres"}


def log_process(service: str) -> str:
    return LOG_PROCESS.get(service, service)


def metrics_line(source: str, addon: str, samples: dict[str, str]) -> str:
    """Heroku's `source=DATABASE addon=postgresql-curved-12345 sample#db_size=8595591bytes ...`."""
    fields = " ".join(f"{k if '#' in k else 'sample#' + k}={v}" for k, v in samples.items())
    return f"source={source} addon={addon} {fields}"


def split_plan(spec: str) -> tuple[str, str | None]:
    """`heroku-postgresql:essential-0` -> (service, plan); `heroku-postgresql` -> (service, None)."""
    service, _, plan = spec.strip().partition(":")
    return service, (plan or None)


def attachment_name(text: str) -> str:
    name = text.strip().upper().replace("-", "_")
    name = name.removesuffix("_URL") if name.endswith("_URL") and len(name) > 4 else name
    if not ATTACHMENT_NAME.fullmatch(name):
        raise InvalidParams(f"Invalid attachment name {text!r}: use letters, digits and underscores, starting "
                            "with a letter (--as DATABASE).")
    return name


class AddonManager:
    def __init__(self, settings: Settings, store: Store, logplex: Logplex, ledger: ReleaseLedger, clock: Clock,
                 user: str, network: AddonNetwork | None = None,
                 web_url: Callable[[str], str] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.logplex = logplex
        self.ledger = ledger
        self.clock = clock
        self.user = user
        self.network = network or AddonNetwork()
        self.web_url = web_url or settings.web_url
        self._providers: dict[str, Provider] = {}
        self._started: set[str] = set()
        self._timer: Timer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._destroying: set[str] = set()  # add-ons being destroyed: a second destroy of one is a 404
        self._attaching: dict[str, set[str]] = {}  # add-on id -> the apps an attach in flight is adding it to
        ledger.deploy_listeners.append(self._deployed)
        ledger.addon_config = self.owned_config

    # providers
    def provider(self, service: str) -> Provider:
        """The provider of `service`, made on first use; AddonError if there is none."""
        if service not in self._providers:
            cls = registry.load(service)
            self._providers[service] = cls(self.settings, self.network, self._events(service))
        return self._providers[service]

    async def provider_of(self, addon: Addon) -> Provider:
        """The started provider serving `addon`: what a service's own commands (pg:*, redis:*) call."""
        return await self._ready(addon.service)

    async def _ready(self, service: str) -> Provider:
        provider = self.provider(service)
        if service not in self._started:
            await provider.start()
            self._started.add(service)
        return provider

    def _events(self, service: str) -> Callable[[str], None]:
        def event(line: str) -> None:
            print(f"addons[{service}]: {line}", flush=True)
            with contextlib.suppress(RuntimeError):  # no loop: the daemon is stopping
                self._spawn(self._log_to_apps(service, line))
        return event

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _log_to_apps(self, service: str, line: str) -> None:
        apps = {a.app_id for a in await self.store.list_addons() if a.service == service}
        for app_id in apps:
            self.logplex.publish(app_id, "app", log_process(service), line)

    def services(self) -> list[Service]:
        """Every service this herokusim can serve (those whose provider loads)."""
        found = []
        for name in registry.services():
            try:
                found.append(self.provider(name).service)
            except AddonError:
                continue
        return found

    def service(self, name: str) -> Service:
        try:
            return self.provider(name).service
        except AddonError as exc:
            raise NotFound(str(exc)) if "Couldn't find" in str(exc) else InvalidParams(str(exc)) from None

    def resolve_plan(self, spec: str) -> tuple[Service, Plan]:
        """`service[:plan]` -> its service and plan; 422 naming the plans there are."""
        name, plan_name = split_plan(spec)
        if name not in registry.services():
            known = ", ".join(sorted(registry.services()))
            raise InvalidParams(f"Couldn't find either the add-on service or the add-on plan of \"{spec.strip()}\". "
                                f"Services here: {known} (herokusim addons:services).")
        try:
            service = self.provider(name).service
        except AddonError as exc:
            raise InvalidParams(str(exc)) from None
        plan = service.plan(plan_name)
        if plan is None:
            plans = ", ".join(f"{service.name}:{p.name}" for p in service.plans)
            raise InvalidParams(f"Couldn't find either the add-on service or the add-on plan of \"{spec}\". "
                                f"Plans of {service.name}: {plans}.")
        return service, plan

    # lifecycle
    async def start(self) -> None:
        """With the daemon, after the store: start the providers of services with add-ons (one that fails is
        reported and retried at its next use), and the metrics timer."""
        for service in sorted({a.service for a in await self.store.list_addons()}):
            try:
                await self._ready(service)
            except Exception as exc:  # noqa: BLE001 - a provider's server that cannot start must not stop the daemon
                print(f"addons[{service}]: cannot start: {exc}", flush=True)
        await self._remove_leftovers()
        self._timer = self.clock.call_later(METRICS_INTERVAL, self._metrics)

    async def _remove_leftovers(self) -> None:
        """Resources a provider holds for add-ons the store does not know: a daemon killed after provisioning
        and before recording the add-on left them (providers with an optional `leftovers(addon_ids)`)."""
        known = {a.id for a in await self.store.list_addons()}
        for service in registry.services():
            if not (self.settings.home / "addons" / service).exists():
                continue  # never used here
            try:
                leftovers = getattr(self.provider(service), "leftovers", None)
                found = leftovers(known) if leftovers is not None else []
                if not found:
                    continue
                provider = await self._ready(service)
                for provider_id in found:
                    await provider.deprovision(provider_id)
                    print(f"addons[{service}]: removed {provider_id}, left by an add-on that was never recorded",
                          flush=True)
            except Exception as exc:  # noqa: BLE001 - leftovers are reported and retried at the next start
                print(f"addons[{service}]: cannot remove leftovers: {exc}", flush=True)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        for service in sorted(self._started):
            try:
                await self._providers[service].stop()
            except Exception as exc:  # noqa: BLE001 - one provider's failure must not keep others running
                print(f"addons[{service}]: cannot stop: {exc}", flush=True)
        self._started.clear()

    async def _metrics(self) -> None:
        self._timer = self.clock.call_later(METRICS_INTERVAL, self._metrics)
        for addon in await self.store.list_addons():
            if addon.service not in self._started:
                continue
            try:
                samples = await self._providers[addon.service].metrics(addon.provider_id)
            except Exception as exc:  # noqa: BLE001 - a metrics line is skipped, never the timer
                log.warning("metrics of %s failed: %s", addon.name, exc)
                continue
            if not samples:
                continue
            attachments = [a for a in await self.store.list_attachments(addon_id=addon.id)
                           if a.app_id == addon.app_id]
            source = attachments[0].name if attachments else self.service(addon.service).attachment_name
            self.logplex.publish(addon.app_id, "app", log_process(addon.service),
                                 metrics_line(source, addon.name, samples))

    # reading
    async def find(self, id_or_name: str, app: App | None = None) -> Addon:
        """An add-on by id or name, or (with `app`) by one of its attachment names on that app."""
        addon = await self.store.get_addon(id_or_name)
        if addon is None and app is not None:
            for attachment in await self.store.list_attachments(app_id=app.id):
                if attachment.name == attachment_name_or(id_or_name):
                    addon = await self.store.get_addon(attachment.addon_id)
        if addon is None or (app is not None and addon.app_id != app.id
                             and not await self._attached(addon, app)):
            raise NotFound(f"Couldn't find that add-on ({id_or_name}).")
        return addon

    async def display_name(self, addon: Addon) -> str:
        """How pg:info names a database: its color attachment on its own app (HEROKU_POSTGRESQL_AMBER), else
        its first attachment's name, else the add-on's name."""
        names = [a.name for a in await self.store.list_attachments(addon_id=addon.id) if a.app_id == addon.app_id]
        colored = [n for n in names if n.startswith("HEROKU_")]
        return (colored or names or [addon.name])[0]

    async def _attached(self, addon: Addon, app: App) -> bool:
        return any(a.app_id == app.id for a in await self.store.list_attachments(addon_id=addon.id))

    async def list(self, app: App | None = None) -> list[Addon]:
        """Every add-on, or those attached to `app` (billed to it or not), oldest first."""
        addons = await self.store.list_addons()
        if app is None:
            return addons
        attached = {a.addon_id for a in await self.store.list_attachments(app_id=app.id)}
        return [a for a in addons if a.app_id == app.id or a.id in attached]

    def config_of(self, addon: Addon, name: str) -> dict[str, str]:
        """The vars an attachment named `name` exports: NAME_<suffix> for each config suffix."""
        return {f"{name}_{suffix}": value for suffix, value in addon.config.items()}

    async def owned_config(self, app: App) -> dict[str, str]:
        """The config vars the app's attachments export now (a rollback keeps them)."""
        config: dict[str, str] = {}
        for attachment in await self.store.list_attachments(app_id=app.id):
            addon = await self.store.get_addon(attachment.addon_id)
            if addon is not None:
                config.update(self.config_of(addon, attachment.name))
        return config

    async def info(self, addon: Addon) -> tuple[str, list[tuple[str, str]]]:
        """The add-on's health and its provider's info lines (empty when the provider is unavailable)."""
        try:
            provider = await self._ready(addon.service)
            return await provider.health(addon.provider_id), await provider.info(addon.provider_id)
        except Exception as exc:  # noqa: BLE001 - info shows a provider that fails as unavailable
            return f"unavailable: {exc}", []

    # names
    def _color_prefix(self, service: Service) -> str:
        if service.name.startswith("heroku-"):
            return "HEROKU_" + service.name.removeprefix("heroku-").upper().replace("-", "_")
        return service.attachment_name

    def _colored(self, service: Service, taken: set[str]) -> str:
        prefix = self._color_prefix(service)
        for color in COLORS:
            if f"{prefix}_{color}" not in taken:
                return f"{prefix}_{color}"
        raise InvalidParams(f"Every {prefix}_<COLOR> name is taken on this app: use --as NAME.")

    def _names(self, service: Service, as_name: str | None, taken: set[str]) -> list[str]:
        """The attachment names of a new add-on on an app whose attachments are `taken`."""
        if as_name is not None:
            name = attachment_name(as_name)
            if name in taken:
                raise InvalidParams(f"The attachment name {name} is already used by another add-on on this app: "
                                    "choose another with --as NAME.")
            names = [name]
        elif service.attachment_name not in taken:
            names = [service.attachment_name]
        else:
            names = []
        if service.name == POSTGRES or not names:
            names.append(self._colored(service, taken | set(names)))  # every database has its color
        return names

    async def _generate_name(self, service: Service) -> str:
        while True:
            name = f"{service.name_prefix}-{random.choice(SHAPES)}-{random.randint(10000, 99999)}"
            if await self.store.get_addon(name) is None:
                return name

    # changes
    async def create(self, app: App, spec: str, name: str | None = None, as_name: str | None = None,
                     options: dict[str, str] | None = None) -> tuple[Addon, Release]:
        """`addons:create service[:plan]`: provision, record, then release `Attach NAME (@ref:...)`."""
        service, plan = self.resolve_plan(spec)
        options = dict(options or {})
        for key in ("follow", "fork"):  # `--follow DATABASE_URL`: the provider gets the leader's provider id
            options.pop(f"{key}_name", None)
            if key in options:
                leader = await self.find(options[key], app)
                if leader.service != service.name:
                    raise InvalidParams(f"--{key} {options[key]}: {leader.name} is a {leader.service} add-on, "
                                        f"not a {service.name} database.")
                options[f"{key}_name"] = await self.display_name(leader)
                options[key] = leader.provider_id
        if name is not None:
            if not ADDON_NAME.fullmatch(name):
                raise InvalidParams(f"Invalid add-on name {name!r}: start with a letter, then letters, digits, "
                                    "- and _.")
            if await self.store.get_addon(name) is not None:
                raise InvalidParams(f"Name {name} is already taken by another add-on.")
        async with self.store.app_writes(app):
            taken = {a.name for a in await self.store.list_attachments(app_id=app.id)}
            names = self._names(service, as_name, taken)
            addon_name = name or await self._generate_name(service)
            addon_id = new_id()
            try:
                provider = await self._ready(service.name)
                provisioned = await provider.provision(addon_id, app.name, plan, options)
            except AddonError as exc:
                raise InvalidParams(str(exc)) from None
            now = self.store.now()
            addon = Addon(addon_id, addon_name, app.id, service.name, plan.name, provisioned.provider_id,
                          "provisioned", dict(provisioned.config), now, now)
            attachments = [Attachment(new_id(), addon.id, app.id, n, now) for n in names]
            try:
                await self.store.create_addon(addon, attachments)
                changes: dict[str, str | None] = {}
                for n in names:
                    changes.update(self.config_of(addon, n))
                release = await self.ledger.addon_change(app, changes, f"Attach {names[0]} (@ref:{addon.name})",
                                                         self.user)
            except BaseException:
                with contextlib.suppress(Exception):
                    await self.store.delete_addon(addon.id)
                with contextlib.suppress(Exception):
                    await provider.deprovision(provisioned.provider_id)
                raise
        return addon, release

    async def attach(self, addon: Addon, app: App, as_name: str | None = None) -> tuple[Attachment, Release]:
        """`addons:attach ADDON -a APP [--as NAME]`: another app, or the same app under another name."""
        service = self.service(addon.service)
        attaching = self._attaching.setdefault(addon.id, set())
        attaching.add(app.id)  # a destroy starting now waits for this app's lock, then finds the attachment
        try:
            return await self._attach(addon, app, service, as_name)
        finally:
            attaching.discard(app.id)
            if not attaching:
                self._attaching.pop(addon.id, None)

    async def _attach(self, addon: Addon, app: App, service: Service, as_name: str | None
                      ) -> tuple[Attachment, Release]:
        async with self.store.app_writes(app):
            if addon.id in self._destroying or await self.store.get_addon(addon.id) is None:
                raise NotFound(f"Couldn't find that add-on ({addon.name}).")
            taken = {a.name for a in await self.store.list_attachments(app_id=app.id)}
            if as_name is not None:
                name = self._names(service, as_name, taken)[0]
            elif service.attachment_name not in taken:
                name = service.attachment_name
            else:
                name = self._colored(service, taken)
            attachment = Attachment(new_id(), addon.id, app.id, name, self.store.now())
            await self.store.add_attachment(attachment)
            try:
                release = await self.ledger.addon_change(app, dict(self.config_of(addon, name)),
                                                         f"Attach {name} (@ref:{addon.name})", self.user)
            except BaseException:
                await self.store.delete_attachment(attachment.id)
                raise
        return attachment, release

    async def detach(self, attachment: Attachment) -> Release:
        """`addons:detach NAME -a APP`: its vars go in a release `Detach NAME (@ref:...)`."""
        addon = await self.store.get_addon(attachment.addon_id)
        app = await self.store.get_app(attachment.app_id)
        if addon is None or app is None:
            raise NotFound(f"Couldn't find that add-on attachment ({attachment.id}).")
        if app.id == addon.app_id:
            own = [a for a in await self.store.list_attachments(addon_id=addon.id) if a.app_id == app.id]
            if len(own) == 1:
                raise InvalidParams(f"{attachment.name} is the last attachment of {addon.name} to its billing app "
                                    f"{app.name}: destroy the add-on instead (addons:destroy {addon.name}).")
        async with self.store.app_writes(app):
            if await self.store.get_attachment(attachment.id) is None:
                raise NotFound(f"Couldn't find that add-on attachment ({attachment.id}).")
            await self.store.delete_attachment(attachment.id)
            changes = dict.fromkeys(self.config_of(addon, attachment.name))
            return await self.ledger.addon_change(app, changes, f"Detach {attachment.name} (@ref:{addon.name})",
                                                  self.user)

    async def destroy(self, addon: Addon, holding: str | None = None) -> Addon:
        """`addons:destroy`: detach it from every app (a `Detach` release each), then deprovision its
        resources. `holding`: the id of the app apps:destroy is removing (the caller holds its lock): no release
        there. Concurrent destroys of one add-on: the first destroys it, the others find nothing (404)."""
        if addon.id in self._destroying:
            raise NotFound(f"Couldn't find that add-on ({addon.name}).")
        self._destroying.add(addon.id)
        try:
            if await self.store.get_addon(addon.id) is None:
                raise NotFound(f"Couldn't find that add-on ({addon.name}).")
            return await self._destroy(addon, holding)
        finally:
            self._destroying.discard(addon.id)

    async def _destroy(self, addon: Addon, holding: str | None) -> Addon:
        app_ids = {a.app_id for a in await self.store.list_attachments(addon_id=addon.id)}
        app_ids |= self._attaching.get(addon.id, set())  # an attach in flight: its app's lock settles it
        for app_id in sorted(app_ids):
            app = await self.store.get_app(app_id)
            if app is None or app_id == holding:
                continue  # the app being destroyed: no release, its dynos are already stopped
            with contextlib.suppress(NotFound):  # an app destroyed meanwhile has nothing to detach from
                async with self.store.app_writes(app):
                    attachments = [a for a in await self.store.list_attachments(addon_id=addon.id)
                                   if a.app_id == app_id]
                    if not attachments:
                        continue
                    changes: dict[str, str | None] = {}
                    for attachment in attachments:
                        changes.update(dict.fromkeys(self.config_of(addon, attachment.name)))
                        await self.store.delete_attachment(attachment.id)
                    await self.ledger.addon_change(app, changes, f"Detach {attachments[0].name} (@ref:{addon.name})",
                                                   self.user)
        await self.store.delete_addon(addon.id)
        try:
            provider = await self._ready(addon.service)
            await provider.deprovision(addon.provider_id)
        except Exception as exc:  # noqa: BLE001 - recorded as gone: the provider's leftovers are reported, not retried
            print(f"addons[{addon.service}]: deprovisioning {addon.name} failed: {exc}", flush=True)
        return Addon(addon.id, addon.name, addon.app_id, addon.service, addon.plan, addon.provider_id,
                     "deprovisioned", addon.config, addon.created_at, self.store.now())

    async def promote(self, addon: Addon, app: App) -> tuple[str | None, list[Release]]:
        """`pg:promote DATABASE`: the `DATABASE` attachment (DATABASE_URL) moves to `addon`, as Heroku's CLI
        does it: the database that held it first gets an alternate alias if it has none (`Attach
        HEROKU_POSTGRESQL_<COLOR>`), then `Detach DATABASE (@ref:old)` and `Attach DATABASE (@ref:new)`, each a
        release. The old database keeps its color attachment. Answers the old database's alias (None when the
        app had no DATABASE) and the releases made."""
        if addon.service != POSTGRES:
            raise InvalidParams(f"{addon.name} is a {addon.service} add-on, not a {POSTGRES} database: only "
                                "Heroku Postgres databases can be promoted.")
        releases: list[Release] = []
        async with self.store.app_writes(app):
            attachments = await self.store.list_attachments(app_id=app.id)
            if not any(a.addon_id == addon.id for a in attachments):
                raise NotFound(f"Couldn't find that add-on ({addon.name}).")
            current = next((a for a in attachments if a.name == "DATABASE"), None)
            if current is not None and current.addon_id == addon.id:
                raise InvalidParams(f"{addon.name} is already promoted on {app.name}.")
            alias: str | None = None
            if current is not None:
                old = await self.store.get_addon(current.addon_id)
                assert old is not None
                alias = next((a.name for a in attachments if a.addon_id == old.id and a.name != "DATABASE"), None)
                if alias is None:  # its only name is DATABASE: give it one before taking that away
                    alias = self._colored(self.service(old.service), {a.name for a in attachments})
                    backup = Attachment(new_id(), old.id, app.id, alias, self.store.now())
                    await self.store.add_attachment(backup)
                    try:
                        releases.append(await self.ledger.addon_change(
                            app, dict(self.config_of(old, alias)), f"Attach {alias} (@ref:{old.name})", self.user))
                    except BaseException:
                        await self.store.delete_attachment(backup.id)
                        raise
                await self.store.delete_attachment(current.id)
                try:
                    releases.append(await self.ledger.addon_change(
                        app, dict.fromkeys(self.config_of(old, "DATABASE")), f"Detach DATABASE (@ref:{old.name})",
                        self.user))
                except BaseException:
                    await self.store.add_attachment(current)
                    raise
            promoted = Attachment(new_id(), addon.id, app.id, "DATABASE", self.store.now())
            await self.store.add_attachment(promoted)
            try:
                releases.append(await self.ledger.addon_change(
                    app, dict(self.config_of(addon, "DATABASE")), f"Attach DATABASE (@ref:{addon.name})", self.user))
            except BaseException:
                await self.store.delete_attachment(promoted.id)
                raise
        return alias, releases

    async def remove_app(self, app: App) -> None:
        """apps:destroy, under the app's lock: its add-ons are destroyed (their data with them) and detached
        from other apps; its attachments to other apps' add-ons go with the app."""
        for addon in await self.store.list_addons(app.id):
            await self.destroy(addon, holding=app.id)

    async def change_plan(self, addon: Addon, spec: str) -> Addon:
        """PATCH with a plan: only if the provider can change plans (an optional `change_plan` method)."""
        service, plan = self.resolve_plan(spec if ":" in spec else f"{addon.service}:{spec}")
        if service.name != addon.service:
            raise InvalidParams(f"{addon.name} is a {addon.service} add-on: it cannot change to a {service.name} "
                                "plan.")
        if plan.name == addon.plan:
            return addon
        provider = await self._ready(addon.service)
        change = getattr(provider, "change_plan", None)
        if change is None:
            raise InvalidParams(f"{service.name} add-ons cannot change plans in herokusim: create a "
                                f"{service.name}:{plan.name} add-on and move the data.")
        try:
            await change(addon.provider_id, plan)
        except AddonError as exc:
            raise InvalidParams(str(exc)) from None
        await self.store.set_addon_plan(addon.id, plan.name)
        found = await self.store.get_addon(addon.id)
        assert found is not None
        return found

    # deploys
    async def _deployed(self, app: App, release: Release, slug: Slug) -> None:
        """After a deploy: each attached add-on whose provider listens for deploys is told (deployhooks)."""
        listeners = []
        for attachment in await self.store.list_attachments(app_id=app.id):
            addon = await self.store.get_addon(attachment.addon_id)
            if addon is None:
                continue
            try:
                provider = await self._ready(addon.service)
            except Exception as exc:  # noqa: BLE001 - a deploy never waits for a provider that fails
                self.logplex.publish(app.id, "heroku", addon.service, f"{addon.name} is unavailable: {exc}")
                continue
            if hasattr(provider, "deployed"):
                listeners.append((addon, provider))
        if not listeners:
            return
        fields = await self._deploy_fields(app, release, slug)
        for addon, provider in listeners:
            try:
                line = await provider.deployed(addon.provider_id, fields)  # type: ignore[attr-defined]
            except AddonError as exc:
                line = str(exc)
            except Exception as exc:  # noqa: BLE001 - logged in the app's log, never blocking the release
                line = f"{addon.name} failed: {exc}"
            self.logplex.publish(app.id, "heroku", addon.service, line)

    async def _deploy_fields(self, app: App, release: Release, slug: Slug) -> dict[str, str]:
        head = slug.commit_sha or ""
        prev = ""
        for earlier in reversed(await self.store.list_releases(app.id)):
            if earlier.version < release.version and earlier.slug_id:
                before = await self.store.get_slug(app.id, earlier.slug_id)
                if before is not None and before.commit_sha:
                    prev = before.commit_sha
                    break
        git_log = await asyncio.to_thread(self._git_log, app.name, prev, head) if head else ""
        return {"app": app.name, "user": self.user, "url": self.web_url(app.name).rstrip("/"),
                "head": head[:7], "head_long": head, "prev_head": prev, "git_log": git_log,
                "release": f"v{release.version}"}

    def _git_log(self, app_name: str, prev: str, head: str) -> str:
        """Heroku's `git_log`: the commits since the last deploy, `  * Author: subject` each."""
        repo = self.settings.repos_dir / f"{app_name}.git"
        span = f"{prev}..{head}" if prev and prev != head else head
        try:
            out = subprocess.run(["git", "--git-dir", str(repo), "log", "--format=  * %an: %s", "-n", "50", span],
                                 capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout.rstrip("\n") if out.returncode == 0 else ""


def attachment_name_or(text: str) -> str:
    """`DATABASE_URL` or `database` as the attachment name it names (DATABASE); the text itself otherwise."""
    try:
        return attachment_name(text)
    except InvalidParams:
        return text
