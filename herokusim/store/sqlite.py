"""store/sqlite: the Store — herokusim's state in sqlite through aiosqlite (apps, slugs, releases, builds,
formation, dynos, domains, add-ons and their attachments, and the simulated clock), read and written as the records of store/models.

One connection, one writer: every write goes through `transaction()`, which serialises writers with a
lock and wraps them in BEGIN IMMEDIATE / COMMIT (tasks sharing a connection share its transaction).

A change to one app reads before it writes (a config change is the newest release's config plus its own
keys), so every such change also holds that app's lock through `app_writes()`: concurrent callers land
one after another, each on what the one before wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import aiosqlite

from herokusim.clock import Clock, ClockState
from herokusim.errors import InvalidParams, NotFound
from herokusim.store.locks import AppLocks
from herokusim.store.models import (
    Addon,
    App,
    Attachment,
    Build,
    Domain,
    DynoRecord,
    Formation,
    PgSchedule,
    PgTransfer,
    Release,
    SchedulerJob,
    Slug,
    new_id,
)
from herokusim.store.schema import migrate

SQLITE_MAX_INTEGER = 2**63 - 1  # SQLite's INTEGER is a signed 64-bit number: a larger one is OverflowError


def sqlite_integer(text: str) -> int | None:
    """`text` as a whole number SQLite can hold, or None: ASCII digits only (str.isdigit also takes '²' and
    '١', which int() refuses or reads), and at most SQLITE_MAX_INTEGER."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(SQLITE_MAX_INTEGER)):
        return None
    number = int(text)
    return number if number <= SQLITE_MAX_INTEGER else None


def _app(row: aiosqlite.Row) -> App:
    return App(row["id"], row["name"], row["stack"], row["region"], bool(row["maintenance"]),
               row["created_at"], row["updated_at"])


def _slug(row: aiosqlite.Row) -> Slug:
    uploaded = bool(row["uploaded"])
    return Slug(row["id"], row["app_id"], row["checksum"] or None, row["size"] if uploaded else None,
                json.loads(row["process_types"]), row["commit_sha"], row["stack"], row["buildpack"], row["path"],
                row["created_at"], uploaded)


def _release(row: aiosqlite.Row) -> Release:
    return Release(row["id"], row["app_id"], row["version"], row["description"], row["slug_id"],
                   json.loads(row["config"]), row["status"], row["user_email"], row["created_at"],
                   row["updated_at"])


def _build(row: aiosqlite.Row) -> Build:
    return Build(row["id"], row["app_id"], row["status"], row["commit_sha"], row["buildpack"], row["output"],
                 row["slug_id"], row["release_id"], row["user_email"], row["created_at"], row["updated_at"],
                 row["source_blob_url"], row["source_blob_version"])


def _formation(row: aiosqlite.Row) -> Formation:
    return Formation(row["id"], row["app_id"], row["type"], row["quantity"], row["size"], row["command"],
                     row["updated_at"], row["created_at"])


def _dyno(row: aiosqlite.Row) -> DynoRecord:
    return DynoRecord(row["id"], row["app_id"], row["name"], row["type"], row["state"], row["command"],
                      row["size"], row["release_id"], row["runtime"], row["handle"], row["created_at"],
                      row["updated_at"])


def _addon(row: aiosqlite.Row) -> Addon:
    return Addon(row["id"], row["name"], row["app_id"], row["service"], row["plan"], row["provider_id"],
                 row["state"], json.loads(row["config"]), row["created_at"], row["updated_at"])


def _attachment(row: aiosqlite.Row) -> Attachment:
    return Attachment(row["id"], row["addon_id"], row["app_id"], row["name"], row["created_at"])


def _job(row: aiosqlite.Row) -> SchedulerJob:
    return SchedulerJob(row["id"], row["app_id"], row["addon_id"], row["command"], row["every"], row["at"],
                        row["dyno_size"], row["last_run_at"], row["created_at"], row["updated_at"])


def _lab_progress(row: aiosqlite.Row) -> dict[str, object]:
    return {"number": row["number"], "state": row["state"], "apps": json.loads(row["apps"]),
            "checkout": row["checkout"], "last_check": json.loads(row["last_check"]) if row["last_check"] else None,
            "started_at": row["started_at"], "updated_at": row["updated_at"]}


def _gone(app_id: str) -> NotFound:
    """Every app has v1: an app without releases was destroyed while the caller was looking at it."""
    return NotFound(f"Couldn't find that app ({app_id}).")


class Store:
    def __init__(self, db: aiosqlite.Connection, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._write_lock = asyncio.Lock()
        self._app_locks = AppLocks()
        self._clock_resumed = False  # only a clock resumed from the store may be saved over it

    @classmethod
    async def open(cls, path: Path, clock: Clock) -> Store:
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            await migrate(db)
            store = cls(db, clock)
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        try:
            if self._clock_resumed:
                # a store that can no longer be written: the next daemon resumes as after a crash, which
                # never goes back either
                with contextlib.suppress(sqlite3.Error):
                    await self.save_clock(running=False)
        finally:
            await self.db.close()

    # the simulated clock
    async def resume_clock(self, scale: float | None) -> None:
        """Set the clock going on from where the last daemon left it (ClockState.resumed); `scale` given
        explicitly wins over the saved one. Saved at once as running, so a crash is known as one."""
        row = await self._one("SELECT * FROM clock WHERE id = 1")
        saved = ClockState(row["sim"], row["real"], row["scale"], bool(row["running"])) if row else None
        self.clock.resume(saved, scale)
        await self.save_clock()
        self._clock_resumed = True

    async def save_clock(self, running: bool = True) -> None:
        """Keep where the clock is now: after a warp, and when the daemon stops (`running=False`)."""
        state = self.clock.state(running)
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO clock (id, sim, real, scale, running) VALUES (1, ?, ?, ?, ?) ON CONFLICT (id)"
                " DO UPDATE SET sim = excluded.sim, real = excluded.real, scale = excluded.scale,"
                " running = excluded.running", (state.sim, state.real, state.scale, int(state.running)))

    def now(self) -> str:
        return self.clock.now().isoformat(timespec="seconds").replace("+00:00", "Z")

    # the account (herokusim's one user)
    async def account_created_at(self) -> str:
        """When the account was first served, stored then and the same ever after. A database older than
        the record gets its earliest app's time: the account was there at least that long."""
        row = await self._one("SELECT created_at FROM account WHERE id = 1")
        if row is not None:
            return row["created_at"]
        async with self.transaction() as db:
            await db.execute("INSERT OR IGNORE INTO account (id, created_at)"
                             " VALUES (1, COALESCE((SELECT MIN(created_at) FROM apps), ?))", (self.now(),))
        row = await self._one("SELECT created_at FROM account WHERE id = 1")
        assert row is not None
        return row["created_at"]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    @asynccontextmanager
    async def app_writes(self, app: App) -> AsyncIterator[None]:
        """Hold `app`'s lock for a change that reads, then writes. An app destroyed while the caller
        waited is not found: nothing is written for it."""
        async with self._app_locks.hold(app.id):
            if await self.get_app(app.id) is None:
                raise NotFound(f"Couldn't find that app ({app.name}).")
            yield

    async def _one(self, sql: str, *args: object) -> aiosqlite.Row | None:
        async with self.db.execute(sql, args) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, *args: object) -> list[aiosqlite.Row]:
        async with self.db.execute(sql, args) as cur:
            return list(await cur.fetchall())

    # apps
    async def create_app(self, name: str, stack: str, region: str, user_email: str
                         ) -> tuple[App, list[Release]]:
        """The app with Heroku's first two releases, `v1 Initial release` and `v2 Enable Logplex`, in one
        transaction: a first push is v3, as tutorials count on."""
        now = self.now()
        app = App(new_id(), name, stack, region, False, now, now)
        async with self.transaction() as db:
            try:
                await db.execute(
                    "INSERT INTO apps (id, name, stack, region, maintenance, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, 0, ?, ?)", (app.id, name, stack, region, now, now))
            except sqlite3.IntegrityError:  # another create of that name landed first
                raise InvalidParams(f"Name {name} is already taken.") from None
            releases = [await self._insert_release(db, app.id, description, None, {}, "succeeded", user_email)
                        for description in ("Initial release", "Enable Logplex")]
        return app, releases

    async def get_app(self, id_or_name: str) -> App | None:
        row = await self._one("SELECT * FROM apps WHERE id = ? OR name = ?", id_or_name, id_or_name)
        return _app(row) if row else None

    async def list_apps(self) -> list[App]:
        return [_app(r) for r in await self._all("SELECT * FROM apps ORDER BY name")]

    async def delete_app(self, app_id: str) -> None:
        async with self.transaction() as db:
            # builds and releases reference slugs: drop them first so no foreign key blocks the cascade
            await db.execute("DELETE FROM builds WHERE app_id = ?", (app_id,))
            await db.execute("DELETE FROM releases WHERE app_id = ?", (app_id,))
            await db.execute("DELETE FROM apps WHERE id = ?", (app_id,))

    async def rename_app(self, app_id: str, name: str) -> None:
        """The caller holds the app's lock and has checked the name; a name taken meanwhile is refused."""
        async with self.transaction() as db:
            try:
                await db.execute("UPDATE apps SET name = ?, updated_at = ? WHERE id = ?", (name, self.now(), app_id))
            except sqlite3.IntegrityError:
                raise InvalidParams("Name is already taken") from None

    async def set_maintenance(self, app_id: str, on: bool) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE apps SET maintenance = ?, updated_at = ? WHERE id = ?",
                             (int(on), self.now(), app_id))

    # slugs
    async def create_slug(self, app_id: str, checksum: str | None, size: int | None,
                          process_types: dict[str, str], commit_sha: str | None, stack: str, buildpack: str | None,
                          path: str, slug_id: str | None = None, uploaded: bool = True) -> Slug:
        """`uploaded=False`: a slug of POST /slugs, whose tarball comes later (set_slug_uploaded)."""
        slug = Slug(slug_id or new_id(), app_id, checksum, size if uploaded else None, process_types, commit_sha,
                    stack, buildpack, path, self.now(), uploaded)
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO slugs (id, app_id, checksum, size, process_types, commit_sha, stack, buildpack,"
                " path, created_at, uploaded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (slug.id, app_id, checksum or "", size or 0, json.dumps(process_types), commit_sha, stack,
                 buildpack, path, slug.created_at, int(uploaded)))
        return slug

    async def set_slug_uploaded(self, slug_id: str, checksum: str, size: int) -> bool:
        """Record a slug's uploaded tarball; False if it was uploaded already (or is gone)."""
        async with self.transaction() as db:
            cur = await db.execute("UPDATE slugs SET uploaded = 1, checksum = ?, size = ? WHERE id = ? AND uploaded = 0",
                                   (checksum, size, slug_id))
            return cur.rowcount == 1

    async def get_slug(self, app_id: str, slug_id: str) -> Slug | None:
        row = await self._one("SELECT * FROM slugs WHERE app_id = ? AND id = ?", app_id, slug_id)
        return _slug(row) if row else None

    async def find_slug(self, slug_id: str) -> Slug | None:
        """A slug by its id alone, whatever its app (a blob URL names only the slug)."""
        row = await self._one("SELECT * FROM slugs WHERE id = ?", slug_id)
        return _slug(row) if row else None

    async def slug_paths(self, app_id: str) -> list[str]:
        return [r["path"] for r in await self._all("SELECT path FROM slugs WHERE app_id = ?", app_id)]

    # releases
    async def _insert_release(self, db: aiosqlite.Connection, app_id: str, description: str,
                              slug_id: str | None, config: dict[str, str], status: str,
                              user_email: str) -> Release:
        async with db.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM releases WHERE app_id = ?",
                              (app_id,)) as cur:
            (version,) = await cur.fetchone()  # type: ignore[misc]
        now = self.now()
        release = Release(new_id(), app_id, version, description, slug_id, dict(config), status, user_email,
                          now, now)
        await db.execute(
            "INSERT INTO releases (id, app_id, version, description, slug_id, config, status, user_email,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (release.id, app_id, version, description, slug_id, json.dumps(config), status, user_email,
             now, now))
        return release

    async def create_release(self, app_id: str, description: str, slug_id: str | None,
                             config: dict[str, str], user_email: str, status: str = "succeeded") -> Release:
        async with self.transaction() as db:
            return await self._insert_release(db, app_id, description, slug_id, config, status, user_email)

    async def fail_pending_releases(self) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE releases SET status = 'failed', updated_at = ? WHERE status = 'pending'",
                             (self.now(),))

    async def set_release_status(self, release_id: str, status: str) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE releases SET status = ?, updated_at = ? WHERE id = ?",
                             (status, self.now(), release_id))

    async def latest_config(self, app_id: str) -> dict[str, str]:
        """The app's config vars: those of its newest release, live or not (a config change whose release
        phase failed is still the app's config; the dynos keep the live release's)."""
        row = await self._one("SELECT config FROM releases WHERE app_id = ? ORDER BY version DESC LIMIT 1", app_id)
        if row is None:
            raise _gone(app_id)
        return json.loads(row["config"])

    async def latest_release(self, app_id: str) -> Release:
        """The newest release that has not failed: its slug is the one the app runs, or is about to run
        once a release phase in progress succeeds."""
        row = await self._one(
            "SELECT * FROM releases WHERE app_id = ? AND status != 'failed' ORDER BY version DESC LIMIT 1",
            app_id)
        if row is None:
            raise _gone(app_id)
        return _release(row)

    async def current_release(self, app_id: str) -> Release:
        """The newest succeeded release: the one whose slug and config the app runs."""
        row = await self._one(
            "SELECT * FROM releases WHERE app_id = ? AND status = 'succeeded' ORDER BY version DESC LIMIT 1",
            app_id)
        if row is None:
            raise _gone(app_id)
        return _release(row)

    async def list_releases(self, app_id: str) -> list[Release]:
        rows = await self._all("SELECT * FROM releases WHERE app_id = ? ORDER BY version", app_id)
        return [_release(r) for r in rows]

    async def get_release(self, app_id: str, id_or_version: str) -> Release | None:
        version = sqlite_integer(id_or_version.removeprefix("v"))
        if version is not None:
            row = await self._one("SELECT * FROM releases WHERE app_id = ? AND version = ?", app_id, version)
        else:
            row = await self._one("SELECT * FROM releases WHERE app_id = ? AND id = ?", app_id, id_or_version)
        return _release(row) if row else None

    # builds
    async def create_build(self, app_id: str, commit_sha: str | None, user_email: str,
                           source_blob_url: str | None = None, source_blob_version: str | None = None) -> Build:
        now = self.now()
        build = Build(new_id(), app_id, "pending", commit_sha, None, "", None, None, user_email, now, now,
                      source_blob_url, source_blob_version)
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO builds (id, app_id, status, commit_sha, user_email, created_at, updated_at,"
                " source_blob_url, source_blob_version) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
                (build.id, app_id, commit_sha, user_email, now, now, source_blob_url, source_blob_version))
        return build

    async def finish_build(self, build_id: str, status: str, output: str, buildpack: str | None = None,
                           slug_id: str | None = None, release_id: str | None = None) -> None:
        async with self.transaction() as db:
            await db.execute(
                "UPDATE builds SET status = ?, output = ?, buildpack = ?, slug_id = ?, release_id = ?,"
                " updated_at = ? WHERE id = ?",
                (status, output, buildpack, slug_id, release_id, self.now(), build_id))

    async def list_builds(self, app_id: str) -> list[Build]:
        rows = await self._all("SELECT * FROM builds WHERE app_id = ? ORDER BY created_at, rowid", app_id)
        return [_build(r) for r in rows]

    async def get_build(self, app_id: str, build_id: str) -> Build | None:
        row = await self._one("SELECT * FROM builds WHERE app_id = ? AND id = ?", app_id, build_id)
        return _build(row) if row else None

    # formation
    async def list_formation(self, app_id: str) -> list[Formation]:
        rows = await self._all("SELECT * FROM formation WHERE app_id = ? ORDER BY type", app_id)
        return [_formation(r) for r in rows]

    async def sync_formation(self, app_id: str, process_types: dict[str, str]) -> list[Formation]:
        """Make the formation match a release's process types: new types start at 0 (web at 1),
        commands follow the slug, and types the slug no longer declares leave the formation.
        Returns the new types that start above 0: what the release scaled up."""
        now = self.now()
        async with self.transaction() as db:
            async with db.execute("SELECT type FROM formation WHERE app_id = ?", (app_id,)) as cur:
                before = {row[0] for row in await cur.fetchall()}
            await db.execute(
                f"DELETE FROM formation WHERE app_id = ? AND type NOT IN ({','.join('?' * len(process_types))})",
                (app_id, *process_types))
            for ptype, command in process_types.items():
                if ptype == "release":
                    continue  # the release phase is not part of the formation
                await db.execute(
                    "INSERT INTO formation (id, app_id, type, quantity, size, command, updated_at, created_at)"
                    " VALUES (?, ?, ?, ?, 'standard-1X', ?, ?, ?)"
                    " ON CONFLICT (app_id, type) DO UPDATE SET command = excluded.command",
                    (new_id(), app_id, ptype, 1 if ptype == "web" else 0, command, now, now))
        return [f for f in await self.list_formation(app_id) if f.type not in before and f.quantity]

    async def scale_formation(self, app_id: str, updates: list[tuple[str, int | None, str | None]]) -> None:
        """Apply (type, quantity, size) updates in one transaction; None keeps the current value."""
        now = self.now()
        async with self.transaction() as db:
            for ptype, quantity, size in updates:
                await db.execute(
                    "UPDATE formation SET quantity = COALESCE(?, quantity), size = COALESCE(?, size),"
                    " updated_at = ? WHERE app_id = ? AND type = ?", (quantity, size, now, app_id, ptype))

    # dynos (their live state is owned by dynos/, persisted here so a restarted daemon can find them)
    async def save_dyno(self, dyno: DynoRecord) -> None:
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO dynos (id, app_id, name, type, state, command, size, release_id, runtime, handle,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET state = excluded.state, handle = excluded.handle,"
                " updated_at = excluded.updated_at",
                (dyno.id, dyno.app_id, dyno.name, dyno.type, dyno.state, dyno.command, dyno.size,
                 dyno.release_id, dyno.runtime, dyno.handle, dyno.created_at, dyno.updated_at))

    async def delete_dyno(self, dyno_id: str) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM dynos WHERE id = ?", (dyno_id,))

    async def list_all_dynos(self) -> list[DynoRecord]:
        return [_dyno(r) for r in await self._all("SELECT * FROM dynos")]

    # buildpacks set on an app, in the order they run
    async def list_buildpacks(self, app_id: str) -> list[str]:
        rows = await self._all("SELECT url FROM buildpack_installations WHERE app_id = ? ORDER BY ordinal", app_id)
        return [r["url"] for r in rows]

    async def set_buildpacks(self, app_id: str, urls: list[str]) -> None:
        """Replace the app's list (an empty one: the next build detects its buildpack)."""
        async with self.transaction() as db:
            await db.execute("DELETE FROM buildpack_installations WHERE app_id = ?", (app_id,))
            await db.executemany("INSERT INTO buildpack_installations (app_id, ordinal, url) VALUES (?, ?, ?)",
                                 [(app_id, ordinal, url) for ordinal, url in enumerate(urls)])

    # domains (custom hostnames; the router learns them through the routing table)
    async def list_domains(self, app_id: str | None = None) -> list[Domain]:
        rows = (await self._all("SELECT * FROM domains WHERE app_id = ? ORDER BY hostname", app_id) if app_id
                else await self._all("SELECT * FROM domains ORDER BY hostname"))
        return [Domain(r["id"], r["app_id"], r["hostname"], r["kind"], r["created_at"]) for r in rows]

    async def find_domain(self, hostname: str) -> Domain | None:
        row = await self._one("SELECT * FROM domains WHERE hostname = ?", hostname)
        return Domain(row["id"], row["app_id"], row["hostname"], row["kind"], row["created_at"]) if row else None

    async def add_domain(self, app_id: str, hostname: str, kind: str = "custom") -> Domain:
        domain = Domain(new_id(), app_id, hostname, kind, self.now())
        async with self.transaction() as db:
            await db.execute("INSERT INTO domains (id, app_id, hostname, kind, created_at) VALUES (?, ?, ?, ?, ?)",
                             (domain.id, app_id, hostname, kind, domain.created_at))
        return domain

    async def delete_domain(self, domain_id: str) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM domains WHERE id = ?", (domain_id,))

    # add-ons and their attachments (addons/manager.py owns what they mean)
    async def create_addon(self, addon: Addon, attachments: list[Attachment]) -> None:
        """The add-on with its first attachments, in one transaction; a name taken meanwhile is refused."""
        async with self.transaction() as db:
            try:
                await db.execute(
                    "INSERT INTO addons (id, name, app_id, service, plan, provider_id, state, config, created_at,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (addon.id, addon.name, addon.app_id, addon.service, addon.plan, addon.provider_id, addon.state,
                     json.dumps(addon.config), addon.created_at, addon.updated_at))
                for attachment in attachments:
                    await self._insert_attachment(db, attachment)
            except sqlite3.IntegrityError:
                raise InvalidParams(f"Name {addon.name} is already taken by another add-on.") from None

    async def _insert_attachment(self, db: aiosqlite.Connection, attachment: Attachment) -> None:
        await db.execute("INSERT INTO addon_attachments (id, addon_id, app_id, name, created_at) VALUES (?, ?, ?, ?, ?)",
                         (attachment.id, attachment.addon_id, attachment.app_id, attachment.name,
                          attachment.created_at))

    async def add_attachment(self, attachment: Attachment) -> None:
        async with self.transaction() as db:
            try:
                await self._insert_attachment(db, attachment)
            except sqlite3.IntegrityError:
                raise InvalidParams(f"Name {attachment.name} is already used by another add-on attachment on "
                                    "this app.") from None

    async def get_addon(self, id_or_name: str) -> Addon | None:
        row = await self._one("SELECT * FROM addons WHERE id = ? OR name = ?", id_or_name, id_or_name)
        return _addon(row) if row else None

    async def list_addons(self, app_id: str | None = None) -> list[Addon]:
        """Every add-on, or those billed to `app_id`, oldest first."""
        rows = (await self._all("SELECT * FROM addons WHERE app_id = ? ORDER BY created_at, rowid", app_id) if app_id
                else await self._all("SELECT * FROM addons ORDER BY created_at, rowid"))
        return [_addon(r) for r in rows]

    async def set_addon_plan(self, addon_id: str, plan: str) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE addons SET plan = ?, updated_at = ? WHERE id = ?", (plan, self.now(), addon_id))

    async def delete_addon(self, addon_id: str) -> None:
        """The add-on and its attachments (the cascade)."""
        async with self.transaction() as db:
            await db.execute("DELETE FROM addons WHERE id = ?", (addon_id,))

    async def list_attachments(self, app_id: str | None = None, addon_id: str | None = None) -> list[Attachment]:
        sql, args = "SELECT * FROM addon_attachments", []
        where = [(c, v) for c, v in (("app_id", app_id), ("addon_id", addon_id)) if v is not None]
        if where:
            sql += " WHERE " + " AND ".join(f"{c} = ?" for c, _ in where)
            args = [v for _, v in where]
        rows = await self._all(sql + " ORDER BY created_at, rowid", *args)
        return [_attachment(r) for r in rows]

    async def get_attachment(self, attachment_id: str) -> Attachment | None:
        row = await self._one("SELECT * FROM addon_attachments WHERE id = ?", attachment_id)
        return _attachment(row) if row else None

    async def delete_attachment(self, attachment_id: str) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM addon_attachments WHERE id = ?", (attachment_id,))

    # Heroku Scheduler's jobs (addons/scheduler.py owns what they mean)
    async def create_job(self, app_id: str, addon_id: str, command: str, every: str, at: str | None,
                         dyno_size: str) -> SchedulerJob:
        now = self.now()
        async with self.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO scheduler_jobs (app_id, addon_id, command, every, at, dyno_size, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (app_id, addon_id, command, every, at, dyno_size, now, now))
            job_id = cursor.lastrowid
        job = await self.get_job(str(job_id))
        assert job is not None
        return job

    async def get_job(self, job_id: str, app_id: str | None = None) -> SchedulerJob | None:
        if not job_id.isascii() or not job_id.isdigit():
            return None
        row = await self._one("SELECT * FROM scheduler_jobs WHERE id = ?", int(job_id))
        if row is None or (app_id is not None and row["app_id"] != app_id):
            return None
        return _job(row)

    async def list_jobs(self, app_id: str | None = None) -> list[SchedulerJob]:
        rows = (await self._all("SELECT * FROM scheduler_jobs WHERE app_id = ? ORDER BY id", app_id) if app_id
                else await self._all("SELECT * FROM scheduler_jobs ORDER BY id"))
        return [_job(r) for r in rows]

    async def update_job(self, job_id: int, command: str, every: str, at: str | None, dyno_size: str) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE scheduler_jobs SET command = ?, every = ?, at = ?, dyno_size = ?, updated_at = ?"
                             " WHERE id = ?", (command, every, at, dyno_size, self.now(), job_id))

    async def set_job_last_run(self, job_id: int, when: str) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE scheduler_jobs SET last_run_at = ? WHERE id = ?", (when, job_id))

    async def delete_job(self, job_id: int) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM scheduler_jobs WHERE id = ?", (job_id,))

    # the classroom labs' progress (api/labs_api.py; a record is a plain dict, JSON columns decoded)
    async def get_lab_progress(self, number: int) -> dict[str, object] | None:
        row = await self._one("SELECT * FROM lab_progress WHERE number = ?", number)
        return _lab_progress(row) if row else None

    async def list_lab_progress(self) -> list[dict[str, object]]:
        return [_lab_progress(r) for r in await self._all("SELECT * FROM lab_progress ORDER BY number")]

    async def put_lab_progress(self, number: int, state: str, apps: dict[str, str], checkout: str | None,
                               last_check: dict[str, object] | None) -> None:
        now = self.now()
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO lab_progress (number, state, apps, checkout, last_check, started_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (number) DO UPDATE SET state = excluded.state,"
                " apps = excluded.apps, checkout = excluded.checkout, last_check = excluded.last_check,"
                " updated_at = excluded.updated_at",
                (number, state, json.dumps(apps), checkout, None if last_check is None else json.dumps(last_check),
                 now, now))

    async def delete_lab_progress(self, number: int) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM lab_progress WHERE number = ?", (number,))

    # Heroku Postgres backups, restores and backup schedules (addons/pgbackups.py owns what they mean)
    async def create_pg_transfer(self, app_id: str, kind: str, scheduled: bool, addon_id: str, addon_name: str,
                                 from_name: str, to_name: str | None,
                                 path_for: Callable[[int], str] | None = None) -> PgTransfer:
        """A new running transfer numbered after the app's last one; `to_name` None: its own name (b001);
        `path_for(num)`: where its file goes."""
        async with self.transaction() as db:
            async with db.execute("SELECT coalesce(max(num), 0) + 1 FROM pg_transfers WHERE app_id = ?",
                                  (app_id,)) as cur:
                (num,) = await cur.fetchone()  # type: ignore[misc]
            now = self.now()
            transfer = PgTransfer(new_id(), app_id, num, kind, scheduled, addon_id, addon_name, from_name, "",
                                  "running", 0, 0, 0, path_for(num) if path_for else "", [], now, now, None)
            transfer = replace(transfer, to_name=to_name if to_name is not None else transfer.name)
            await db.execute(
                "INSERT INTO pg_transfers (id, app_id, num, kind, scheduled, addon_id, addon_name, from_name, "
                "to_name, status, path, logs, created_at, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (transfer.id, app_id, num, kind, int(scheduled), addon_id, addon_name, from_name, transfer.to_name,
                 "running", transfer.path, "[]", now, now))
        return transfer

    async def finish_pg_transfer(self, transfer_id: str, status: str, warnings: int, source_bytes: int,
                                 processed_bytes: int, logs: list[dict[str, str]]) -> None:
        async with self.transaction() as db:
            await db.execute("UPDATE pg_transfers SET status = ?, warnings = ?, source_bytes = ?, processed_bytes = ?,"
                             " logs = ?, finished_at = ? WHERE id = ?",
                             (status, warnings, source_bytes, processed_bytes, json.dumps(logs), self.now(),
                              transfer_id))

    async def list_pg_transfers(self, app_id: str) -> list[PgTransfer]:
        rows = await self._all("SELECT * FROM pg_transfers WHERE app_id = ? ORDER BY num", app_id)
        return [_pg_transfer(r) for r in rows]

    async def delete_pg_transfer(self, transfer_id: str) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM pg_transfers WHERE id = ?", (transfer_id,))

    async def fail_running_pg_transfers(self) -> None:
        """At daemon start: a transfer a stopped daemon left running never finishes."""
        async with self.transaction() as db:
            await db.execute("UPDATE pg_transfers SET status = 'failed', finished_at = ? WHERE status = 'running'",
                             (self.now(),))

    async def set_pg_schedule(self, schedule: PgSchedule) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM pg_backup_schedules WHERE addon_id = ?", (schedule.addon_id,))
            await db.execute("INSERT INTO pg_backup_schedules (id, app_id, addon_id, name, hour, timezone, created_at)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (schedule.id, schedule.app_id, schedule.addon_id, schedule.name, schedule.hour,
                              schedule.timezone, schedule.created_at))

    async def list_pg_schedules(self, app_id: str | None = None) -> list[PgSchedule]:
        rows = (await self._all("SELECT * FROM pg_backup_schedules WHERE app_id = ? ORDER BY created_at", app_id)
                if app_id else await self._all("SELECT * FROM pg_backup_schedules ORDER BY created_at"))
        return [PgSchedule(r["id"], r["app_id"], r["addon_id"], r["name"], r["hour"], r["timezone"], r["created_at"])
                for r in rows]

    async def delete_pg_schedule(self, schedule_id: str) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM pg_backup_schedules WHERE id = ?", (schedule_id,))


def _pg_transfer(row: aiosqlite.Row) -> PgTransfer:
    return PgTransfer(row["id"], row["app_id"], row["num"], row["kind"], bool(row["scheduled"]), row["addon_id"],
                      row["addon_name"], row["from_name"], row["to_name"], row["status"], row["warnings"],
                      row["source_bytes"], row["processed_bytes"], row["path"], json.loads(row["logs"]),
                      row["created_at"], row["started_at"], row["finished_at"])
