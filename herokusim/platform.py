"""platform: the composition root — builds every part, starts and stops them in order, and holds the
operations that span rooms (creating and destroying apps, scaling)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import random
import re
import secrets
import signal
import sqlite3
import sys
from dataclasses import replace
from typing import Any

from aiohttp import web

from herokusim import auth
from herokusim.addons.manager import AddonManager
from herokusim.addons.network import addon_network
from herokusim.addons.pgbackups import PgBackups
from herokusim.addons.scheduler import USER as SCHEDULER_USER
from herokusim.addons.scheduler import JobRunner
from herokusim.api import create_api
from herokusim.api.router_api import restore_domains
from herokusim.appsetup import AppSetups
from herokusim.builds.compiler import LOCAL
from herokusim.builds.service import BuildService
from herokusim.clock import Clock
from herokusim.config import DEFAULT_USER, STACK, Settings
from herokusim.dynos.limits import SIZES
from herokusim.dynos.manager import DynoManager
from herokusim.dynos.runtime.docker import DockerRuntime, RuntimeUnavailable, choose_runtime
from herokusim.dynos.runtime.process import ProcessRuntime
from herokusim.errors import InvalidParams, NotFound
from herokusim.git import GitServer
from herokusim.logplex.hub import Logplex
from herokusim.releases import ReleaseLedger, scaled_to, validate_config
from herokusim.router.server import Router, raise_open_file_limit
from herokusim.router.table import RoutingTable
from herokusim.store.models import App, Release
from herokusim.store.sqlite import Store

APP_NAME = re.compile(r"[a-z][a-z0-9-]{1,28}[a-z0-9]")  # fullmatch: `$` would let a trailing newline in
DYNO_SIZES = {s.lower(): s for s in SIZES}
MAX_QUANTITY = 100
# A quantity as Heroku's CLI sends it: "2", or a change "+1" / "-1" resolved here, under the app's lock, so that
# concurrent `ps:scale worker+1` all count (a client that read the formation first would lose some).
QUANTITY = re.compile(r"([+-]?)([0-9]{1,9})", re.ASCII)
ADJECTIVES = ("shiny", "fathomless", "quiet", "brave", "gentle", "polar", "radiant", "sleepy", "young",
              "frozen", "ancient", "hidden", "misty", "rocky", "sunny", "vast", "wild", "calm", "boiling")
NOUNS = ("atoll", "falls", "river", "meadow", "brook", "canyon", "harbor", "island", "ridge", "forest",
         "lake", "dawn", "summit", "tundra", "dune", "reef", "cove", "mesa", "glacier", "springs")


class StartupError(Exception):
    """The daemon cannot start; the message says why and what to do."""


def _port_taken(what: str, variable: str, port: int, exc: OSError) -> StartupError:
    return StartupError(f"cannot listen for the {what} on 127.0.0.1:{port}: {exc.strerror or exc}; another "
                        f"herokusim or program holds the port: stop it, or set {variable} to a free port")


def check_app_name(name: str) -> None:
    """Heroku's rule for an app's name, for apps:create and apps:rename."""
    if not APP_NAME.fullmatch(name):
        raise InvalidParams(f"Name {name!r} is invalid: it must start with a letter, end with a letter or "
                            "digit, have 3 to 30 characters and only contain lowercase letters, digits and "
                            "dashes.")


def generate_app_name(taken: set[str]) -> str:
    while True:
        name = f"{random.choice(ADJECTIVES)}-{random.choice(NOUNS)}-{random.randint(10000, 99999)}"
        if name not in taken:
            return name


def read_or_create_token(settings: Settings) -> str:
    path = settings.token_path
    if path.exists():
        token = path.read_text().strip()
        if token:
            os.chmod(path, 0o600)
            return token
    token = secrets.token_hex(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


class Platform:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.user = DEFAULT_USER
        self.clock = Clock()  # its time and scale come from the store in start()
        self.logplex = Logplex(self.clock)
        self.table = RoutingTable()
        self.runtime = ProcessRuntime(settings.dynos_dir)
        self.runtime_why = ""  # why this runtime, for the banner
        self.ready = asyncio.Event()  # set once start() has reconciled: the API answers only from then on
        self.token = ""
        self._lock_file: Any = None
        self._api_runner: web.AppRunner | None = None
        self.setups = AppSetups(self)  # POST /app-setups: apps made from a tarball's app.json
        # made in start(): they need the loop or the store
        self.store: Store
        self.dynos: DynoManager
        self.ledger: ReleaseLedger
        self.addons: AddonManager
        self.pgbackups: PgBackups
        self.scheduler: JobRunner
        self.builds: BuildService
        self.git: GitServer
        self.router: Router

    # start and stop, in order
    async def start(self) -> None:
        """Start every part. A failure stops whatever had started (ports, the lock, the database's thread)
        and is raised as a StartupError that says what failed, where, and what to do."""
        try:
            await self._start()
        except BaseException as exc:
            await self.stop()
            if isinstance(exc, sqlite3.Error):
                raise StartupError(f"cannot use the database {self.settings.db_path}: {exc}; make it a writable "
                                   "herokusim database, or move it aside to start with no apps") from None
            if isinstance(exc, OSError):
                home = self.settings.home
                where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(home) else ""
                raise StartupError(f"cannot write to HEROKUSIM_HOME={home}{where}: "
                                   f"{exc.strerror or exc}; make it writable or set HEROKUSIM_HOME to a "
                                   "directory you can write") from None
            raise

    async def _start(self) -> None:
        settings = self.settings
        settings.ensure_dirs()
        self._lock_file = open(settings.home / "daemon.lock", "w")  # noqa: SIM115, ASYNC230 - held while running; once at start
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StartupError(f"herokusim is already running with HEROKUSIM_HOME={settings.home}") from None
        self.token = read_or_create_token(settings)
        try:
            choice = await asyncio.to_thread(choose_runtime, settings, lambda line: print(line, flush=True))
        except RuntimeUnavailable as exc:
            raise StartupError(str(exc)) from None
        self.runtime, self.runtime_why = choice.runtime, choice.why
        self.store = await Store.open(settings.db_path, self.clock)
        await self.store.resume_clock(settings.time_scale)
        settings = replace(settings, time_scale=self.clock.scale)  # the scale in force, given or saved
        self.dynos = DynoManager(settings, self.store, self.logplex, self.table, self.runtime, self.clock)
        self.ledger = ReleaseLedger(self.store, self.logplex, self.dynos)
        self.addons = AddonManager(settings, self.store, self.logplex, self.ledger, self.clock, self.user,
                                   web_url=lambda name: self.settings.web_url(name))
        self.pgbackups = PgBackups(self.addons)  # pg:backups: captures, restores, daily schedules
        self.scheduler = JobRunner(self.store, self.clock, self.logplex, self._run_scheduled, self.dyno_size)
        self.builds = BuildService(settings, self.store, self.logplex, self.ledger, asyncio.get_running_loop(),
                                   self.user, host=getattr(self.runtime, "build_host", LOCAL))
        self.git = GitServer(settings, self.builds.handle_push, self.authenticate)
        raise_open_file_limit()  # before the router sizes its connection limit by it
        self.router = Router(self.table, self.logplex, settings)
        try:
            git_port = self.git.start()
        except OSError as exc:
            raise _port_taken("git server", "HEROKUSIM_GIT_PORT", settings.git_port, exc) from None
        try:
            router_port = await self.router.start(settings.host, settings.router_port)
        except OSError as exc:
            raise _port_taken("router", "HEROKUSIM_ROUTER_PORT", settings.router_port, exc) from None
        self._api_runner = web.AppRunner(create_api(self), access_log=None, handle_signals=False)
        await self._api_runner.setup()
        site = web.TCPSite(self._api_runner, settings.host, settings.api_port)
        try:
            await site.start()
        except OSError as exc:
            raise _port_taken("Platform API", "HEROKUSIM_API_PORT", settings.api_port, exc) from None
        api_port = self._api_runner.addresses[0][1]
        # port 0 means "pick one": record what was picked so URLs in answers are right
        self.settings = replace(settings, router_port=router_port, api_port=api_port, git_port=git_port)
        self.dynos.settings = self.builds.settings = self.git.settings = self.addons.settings = self.settings
        self.clock.start()
        # where add-on servers listen and what their URLs name, for this runtime (Docker: SDK calls, a thread)
        self.addons.network = await asyncio.to_thread(addon_network, self.settings, self.runtime)
        await self.addons.start()  # add-on servers up before dynos come back to use them
        await self.pgbackups.start()  # backup schedules back on the clock
        await self.ledger.fail_interrupted_releases()
        await self.builds.recover()  # after the releases: a build is settled by whether its release went out
        await self.dynos.reconcile()
        await restore_domains(self)  # custom domains back into the routing table
        await self.scheduler.start()  # Heroku Scheduler's jobs armed on the simulated clock
        self.ready.set()

    async def stop(self) -> None:
        if self._api_runner is not None:
            await self._api_runner.cleanup()
        with contextlib.suppress(AttributeError):
            self.scheduler.stop()  # no job starts once the dynos stop
        with contextlib.suppress(AttributeError):
            await self.router.stop()
        with contextlib.suppress(AttributeError):
            self.git.stop()
        with contextlib.suppress(AttributeError):
            await self.dynos.shutdown()
        with contextlib.suppress(AttributeError):
            await self.pgbackups.stop()
        with contextlib.suppress(AttributeError):
            await self.addons.stop()  # after the dynos, which may use their servers to the end
        if isinstance(self.runtime, DockerRuntime):
            self.runtime.stack.cancel()  # a first start's image build: the next start builds it again
        await self.clock.stop()
        self.logplex.close()
        with contextlib.suppress(AttributeError):
            await self.store.close()
        if self._lock_file is not None:
            self._lock_file.close()

    def authenticate(self, offered: bytes | None) -> bool:
        return auth.matches(offered, self.token)

    # operations that span rooms
    async def find_app(self, id_or_name: str) -> App:
        app = await self.store.get_app(id_or_name)
        if app is None:
            raise NotFound(f"Couldn't find that app ({id_or_name}).")
        return app

    async def find_release(self, app: App, id_or_version: str) -> Release:
        release = await self.store.get_release(app.id, id_or_version)
        if release is None:
            raise NotFound(f"Couldn't find that release ({id_or_version}).")
        return release

    async def create_app(self, name: str | None) -> App:
        taken = {a.name for a in await self.store.list_apps()}
        if name is None:
            name = generate_app_name(taken)
        else:
            check_app_name(name)
        if name in taken:
            raise InvalidParams(f"Name {name} is already taken.")
        app, releases = await self.store.create_app(name, STACK, "us", self.user)
        await asyncio.to_thread(self.git.create_repo, name)
        self.table.add_app(app.id, app.name)
        for release in releases:
            self.logplex.publish(app.id, "app", "api", f"{release.description} by user {self.user}")
            self.logplex.publish(app.id, "app", "api", f"Release v{release.version} created by user {self.user}")
        await self.dynos.converge(app.id)
        return app

    async def destroy_app(self, app: App) -> None:
        # under the app's lock: a change waiting for it then finds no app (404) instead of writing for one
        async with self.store.app_writes(app):
            self.table.remove_app(app.id)
            await self.dynos.stop_app(app.id)
            await self.addons.remove_app(app)  # its add-ons are deprovisioned, their data removed
            await self.pgbackups.remove_app(app)  # its backups go with it, as on Heroku
            await self.store.delete_app(app.id)
            self.logplex.drop(app.id)
            await asyncio.to_thread(self.git.delete_repo, app.name)
            await asyncio.to_thread(self.builds.remove_app_files, app.id)

    async def rename_app(self, app: App, name: str) -> App:
        """`PATCH /apps/{app}` with a name: the router host, the git repo and its URL follow; dynos keep
        running (nothing restarts, as on Heroku). Waits for a build of the app in progress to end."""
        check_app_name(name)
        async with self.builds.holding(app.id), self.store.app_writes(app):
            current = await self.find_app(app.id)
            if name == current.name:
                return current
            if await self.store.get_app(name) is not None:
                raise InvalidParams("Name is already taken")
            await self.store.rename_app(app.id, name)
            try:
                await asyncio.to_thread(self.git.rename_repo, current.name, name)
            except BaseException as exc:
                await self.store.rename_app(app.id, current.name)
                if isinstance(exc, FileExistsError):  # a repo left at that name: the name is not free
                    raise InvalidParams("Name is already taken") from None
                raise
            self.table.rename_app(app.id, name)
            for dyno in self.dynos.list(app.id):
                dyno.app_name = name  # what their restarts and one-offs are named after
            return await self.find_app(app.id)

    async def set_maintenance(self, app: App, on: bool) -> App:
        async with self.store.app_writes(app):
            await self.store.set_maintenance(app.id, on)
            self.table.update(app.id, maintenance=on)
            return await self.find_app(app.id)

    def validate_config(self, body: dict[str, Any]) -> dict[str, str | None]:
        return validate_config(body)

    def dyno_size(self, size: str) -> str:
        if size.lower() not in DYNO_SIZES:
            raise InvalidParams(f"Unknown dyno size {size!r}: use one of {', '.join(DYNO_SIZES.values())}.")
        return DYNO_SIZES[size.lower()]

    async def _run_scheduled(self, app_id: str, command: str, size: str, interval: float) -> None:
        """A Heroku Scheduler job's run (addons/scheduler.py's JobRunner calls it when the job is due)."""
        await self.dynos.run_scheduled(app_id, command, SCHEDULER_USER, size, interval)

    def validate_env(self, env: dict[str, Any]) -> dict[str, str]:
        return {k: v for k, v in validate_config(env).items() if v is not None}

    async def restart(self, app: App, target: str | None) -> None:
        """`ps:restart [TYPE|DYNO]`."""
        async with self.store.app_writes(app):
            await self.dynos.restart(app.id, target)

    async def scale(self, app: App, updates: list[dict[str, Any]]) -> None:
        async with self.store.app_writes(app):
            await self._scale(app, updates)

    async def _scale(self, app: App, updates: list[dict[str, Any]]) -> None:
        formation = {f.type: f for f in await self.store.list_formation(app.id)}
        changes: list[tuple[str, int | None, str | None]] = []
        for update in updates:
            ptype = update.get("type")
            if not isinstance(ptype, str) or ptype not in formation:
                raise NotFound(f"Couldn't find that process type ({ptype}).")
            quantity = update.get("quantity")
            if isinstance(quantity, str) and (match := QUANTITY.fullmatch(quantity)):
                sign, number = match.groups()
                quantity = int(number) if not sign else max(0, formation[ptype].quantity + int(sign + number))
            if quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool)
                                         or not 0 <= quantity <= MAX_QUANTITY):
                raise InvalidParams(f"Quantity for {ptype} must be a whole number from 0 to {MAX_QUANTITY}.")
            size = update.get("size")
            if size is not None:
                size = self.dyno_size(size if isinstance(size, str) else repr(size))
            changes.append((ptype, quantity, size))
        await self.store.scale_formation(app.id, changes)
        scaled = {f.type: f for f in await self.store.list_formation(app.id)}
        summary = scaled_to(scaled[t] for t, _, _ in changes)
        self.logplex.publish(app.id, "app", "api", f"Scaled to {summary} by user {self.user}")
        await self.dynos.converge(app.id)

def _banner(settings: Settings, runtime: str, why: str) -> str:
    if why:
        runtime += f" ({why})"
    return "\n".join([
        "herokusim is up",
        f"  router   {settings.router_url}  (apps answer at http://<app>.localhost:{settings.router_port}/)",
        f"  api      {settings.api_url}",
        f"  git      {settings.git_base_url}/<app>.git",
        f"  runtime  {runtime}",
        f"  home     {settings.home}",
        f"  clock    {settings.time_scale:g} simulated seconds per second"
        + ("" if settings.time_scale == 1 else " (`herokusim clock` shows it)"),
        "Press Ctrl-C to stop.",
    ])


async def _serve(settings: Settings) -> None:
    platform = Platform(settings)
    await platform.start()
    print(_banner(platform.settings, platform.runtime.name, platform.runtime_why), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(OSError):  # a closed stdout (`herokusim up | head`) must not skip the stop
            print("herokusim: stopping dynos...", flush=True)
        await platform.stop()


def serve(settings: Settings) -> None:
    """`herokusim up`: run the daemon in the foreground until Ctrl-C or SIGTERM."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        runner(_serve(settings))
    except StartupError as exc:
        print(f"herokusim: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
