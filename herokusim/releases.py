"""releases: the release ledger — v1, v2, ... per app, their descriptions, config changes and rollback.

Every new release restarts the formation on it (through dynos/) and is announced as `app[api]` lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path

from herokusim.config_vars import (
    CONFIG_KEY,
    MAX_CONFIG_BYTES,
    MAX_CONFIG_KEY_LENGTH,
    config_description,
)
from herokusim.dynos.manager import DynoManager
from herokusim.errors import InvalidParams, NotFound
from herokusim.logplex.hub import Logplex
from herokusim.store.models import App, Formation, Release, Slug
from herokusim.store.sqlite import Store


def deploy_description(commit_sha: str | None) -> str:
    return f"Deploy {commit_sha[:8]}" if commit_sha else "Deploy"  # Heroku shows 8 hex digits


def scaled_to(formations: Iterable[Formation]) -> str:
    """`web@2:Standard-1X worker@1:Standard-1X`: what a `Scaled to` line of the app's activity says."""
    return " ".join(f"{f.type}@{f.quantity}:{f.size[0].upper()}{f.size[1:]}" for f in formations)


def check_config_size(config: Mapping[str, str | None]) -> None:
    size = sum(len(k.encode()) + len((v or "").encode()) for k, v in config.items())  # what the 32 kB counts
    if size > MAX_CONFIG_BYTES:
        raise InvalidParams(f"Config vars would take {size} bytes: keys and values together cannot exceed 32 kB "
                            f"({MAX_CONFIG_BYTES} bytes) for each app.")


def validate_config(changes: dict[str, object]) -> dict[str, str | None]:
    clean: dict[str, str | None] = {}
    for key, value in changes.items():
        if len(key) > MAX_CONFIG_KEY_LENGTH:
            raise InvalidParams(f"Config var name {key[:20]}... is {len(key)} characters long: at most "
                                f"{MAX_CONFIG_KEY_LENGTH} are allowed.")
        if not CONFIG_KEY.fullmatch(key):
            raise InvalidParams(f"Invalid config var name {key!r}: use letters, digits and _, not starting "
                                "with a digit.")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise InvalidParams(f"Config var {key} must be a string or null.")
        clean[key] = None if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        if "\0" in (clean[key] or ""):
            raise InvalidParams(f"Config var {key} cannot contain a NUL character: an environment variable "
                                "ends at the first one.")
    check_config_size(clean)  # the whole app's config is checked again once merged (ReleaseLedger.set_config)
    return clean


class ReleaseLedger:
    def __init__(self, store: Store, logplex: Logplex, dynos: DynoManager) -> None:
        self.store = store
        self.logplex = logplex
        self.dynos = dynos
        self._phases: dict[str, asyncio.Task[int]] = {}  # release id -> its release phase, while it runs
        # called (in their own task: never blocking a release) once a deploy's release is live: the add-on
        # room's deploy hooks
        self.deploy_listeners: list[Callable[[App, Release, Slug], Awaitable[None]]] = []
        # the config vars the app's add-on attachments export now (the add-on room's): a rollback keeps them
        self.addon_config: Callable[[App], Awaitable[dict[str, str]]] | None = None
        self._deploys: set[str] = set()  # deploy releases whose release phase runs
        self._listening: set[asyncio.Task[None]] = set()

    def _api_log(self, app: App, message: str) -> None:
        self.logplex.publish(app.id, "app", "api", message)

    async def _release(self, app: App, description: str, slug_id: str | None, config: dict[str, str],
                       user: str, event: str, on_line: Callable[[str], None] | None = None) -> Release:
        """A new release; the caller holds the app's lock (`Store.app_writes`)."""
        slug = await self.store.get_slug(app.id, slug_id) if slug_id else None
        phase = slug.process_types.get("release") if slug else None
        release = await self.store.create_release(app.id, description, slug_id, config, user,
                                                  status="pending" if phase else "succeeded")
        self._api_log(app, f"{event} by user {user}")
        self._api_log(app, f"Release v{release.version} created by user {user}")
        if slug is not None and phase:
            # the release goes live only if its release phase exits 0
            task = asyncio.create_task(self._release_phase(app, release, slug, phase, user, on_line))
            self._phases[release.id] = task
            task.add_done_callback(lambda _: self._phases.pop(release.id, None))
        else:
            await self._go_live(app, user)
        return release

    async def _go_live(self, app: App, user: str) -> None:
        """Run the current release: the newest succeeded one, which need not be the release that just
        succeeded (a later change without a release phase may have gone live while its phase ran)."""
        current = await self.store.current_release(app.id)
        slug = await self.store.get_slug(app.id, current.slug_id) if current.slug_id else None
        if slug is not None:
            started = await self.store.sync_formation(app.id, slug.process_types)
            if started:  # a first deploy scales web to 1, and Heroku's activity says so
                self._api_log(app, f"Scaled to {scaled_to(started)} by user {user}")
        await self.dynos.converge(app.id)

    async def _release_phase(self, app: App, release: Release, slug: Slug, command: str, user: str,
                             on_line: Callable[[str], None] | None) -> int:
        status = await self.dynos.run_release_phase(app.id, app.name, release, Path(slug.path), command, on_line)
        try:
            # its outcome is a write to the app like any other: it waits for changes under way
            async with self.store.app_writes(app):
                if status == 0:
                    await self.store.set_release_status(release.id, "succeeded")
                    await self._go_live(app, user)
                    if release.id in self._deploys:
                        self._deployed(app, release, slug)
                else:
                    await self.store.set_release_status(release.id, "failed")
                    self._api_log(app, f"Release v{release.version} command failed by user {user}")
        except NotFound:
            pass  # the app was destroyed while its release phase ran: there is nothing to make live
        finally:
            self._deploys.discard(release.id)
        return status

    def _deployed(self, app: App, release: Release, slug: Slug) -> None:
        """Tell the deploy listeners, each in its own task: a slow or failing one never holds a release."""
        for listener in self.deploy_listeners:
            task = asyncio.create_task(listener(app, release, slug))
            self._listening.add(task)
            task.add_done_callback(self._listening.discard)

    async def wait_release_phase(self, release_id: str) -> int | None:
        """The exit status of a release's release phase once it ends; None if it has none running."""
        task = self._phases.get(release_id)
        return await asyncio.shield(task) if task is not None else None

    async def fail_interrupted_releases(self) -> None:
        """On daemon start: a release phase a dead daemon never finished did not succeed."""
        await self.store.fail_pending_releases()

    async def deploy(self, app: App, slug: Slug, user: str,
                     on_line: Callable[[str], None] | None = None, description: str | None = None) -> Release:
        """`description`: the client's own (POST /releases); Heroku's `Deploy <commit>` by default."""
        description = description or deploy_description(slug.commit_sha)
        async with self.store.app_writes(app):
            config = await self.store.latest_config(app.id)
            release = await self._release(app, description, slug.id, config, user, description, on_line)
            if release.status == "succeeded":
                self._deployed(app, release, slug)
            elif release.id in self._phases:
                self._deploys.add(release.id)
            return release

    async def addon_change(self, app: App, changes: dict[str, str | None], description: str, user: str
                           ) -> Release:
        """A release for an add-on change (`Attach DATABASE (@ref:postgresql-curved-12345)`): the app's
        config with `changes` (None removes a var), on the slug it runs, restarting its dynos. Always a new
        release, even with no var changed, as Heroku's activity shows every attach and detach. The caller
        holds the app's lock (`Store.app_writes`)."""
        base = await self.store.latest_release(app.id)
        old = await self.store.latest_config(app.id)
        config = {k: v for k, v in {**old, **changes}.items() if v is not None}
        check_config_size(config)
        return await self._release(app, description, base.slug_id, config, user, description)

    async def set_config(self, app: App, changes: dict[str, str | None], user: str) -> Release | None:
        async with self.store.app_writes(app):
            # the slug the app runs or is about to run: a deploy whose release phase is still running
            # stays in the new release (its own phase runs again with the new config)
            base = await self.store.latest_release(app.id)
            old = await self.store.latest_config(app.id)
            description = config_description(old, changes)
            if description is None:
                return None  # setting a var to its current value makes no release
            config = {k: v for k, v in {**old, **changes}.items() if v is not None}
            check_config_size(config)
            return await self._release(app, description, base.slug_id, config, user, description)

    async def rollback(self, app: App, target: str, user: str) -> Release:
        async with self.store.app_writes(app):
            release = await self.store.get_release(app.id, target)
            if release is None:
                raise NotFound(f"Couldn't find that release ({target}).")
            if release.slug_id is None:
                raise InvalidParams(f"Cannot roll back to v{release.version}: it has no slug.")
            description = f"Rollback to v{release.version}"
            config = dict(release.config)
            if self.addon_config is not None:
                # add-ons are not rolled back (Heroku): the vars of today's attachments stay as they are
                config.update(await self.addon_config(app))
            return await self._release(app, description, release.slug_id, config, user, description)
