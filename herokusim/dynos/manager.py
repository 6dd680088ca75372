"""dynos/manager: the DynoManager — formation reconcile, the dyno state machine, restarts, crashes and
cool-offs, daily cycling, memory quotas, one-off and release-phase dynos.

Behaviour (states, Heroku's log lines, the $PORT contract, SIGTERM/SIGKILL, R10/R12/R14/R15, the crash
schedule) lives here; a runtime backend only starts, signals, waits and measures. Platform timers (cycling,
cool-offs) run on the simulated clock; boot, stop and memory timings are real seconds. The router reads
the routing table this room publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable, Collection, Coroutine
from pathlib import Path

from herokusim.clock import Clock
from herokusim.config import CYCLE_HOURS, CYCLE_JITTER_MINUTES, Settings
from herokusim.dynos.dyno import FORMATION, ONE_OFF, RELEASE, SCHEDULER, Attachment, Dyno
from herokusim.dynos.limits import CRASH_STABLE_MINUTES, SIZES, crash_cooloff, memory_quota_mb, r15_limit_mb
from herokusim.dynos.runtime.backend import DynoSpec, RunningDyno, Runtime
from herokusim.errors import InvalidParams, NotFound
from herokusim.logplex.hub import Logplex
from herokusim.router.table import Backend, RoutingTable
from herokusim.store.models import DynoRecord, Release, new_id
from herokusim.store.sqlite import Store

MEMORY_SAMPLE = 1.0  # real seconds between memory samples of a running dyno
R14_INTERVAL = 20.0  # real seconds between two R14 reports of one dyno
ATTACH_TIMEOUT = 60.0  # real seconds an attached one-off waits for its terminal before it is stopped
PORT_POLL = 0.05  # seconds between checks that a booting web dyno accepts on $PORT
OUTPUT_DRAIN = 1.0  # seconds to finish reading a dyno's output after its process exited
SCHEDULED_WAIT = 60.0  # real seconds a warp waits for one scheduler run to end before it goes on


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DynoManager:
    def __init__(self, settings: Settings, store: Store, logplex: Logplex, table: RoutingTable,
                 runtime: Runtime, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.logplex = logplex
        self.table = table
        self.runtime = runtime
        self.clock = clock
        self._dynos: dict[str, dict[str, Dyno]] = {}  # app id -> name -> the formation dyno of that name
        self._one_offs: dict[str, dict[str, Dyno]] = {}  # app id -> name -> one-off / release dyno
        self._attachments: dict[str, Dyno] = {}  # attach secret -> one-off waiting for its terminal
        self._retiring: set[Dyno] = set()  # replaced or scaled away, still shutting down
        self._timers: set[asyncio.Task[None]] = set()  # background stops and state writes
        self._locks: dict[str, asyncio.Lock] = {}
        self._closing = False

    # what others read
    def list(self, app_id: str) -> list[Dyno]:
        dynos = [*self._dynos.get(app_id, {}).values(), *self._one_offs.get(app_id, {}).values()]
        return sorted(dynos, key=lambda d: (d.type, d.number))

    def find(self, app_id: str, name: str) -> Dyno | None:
        return self._dynos.get(app_id, {}).get(name) or self._one_offs.get(app_id, {}).get(name)

    def memory_quota_mb(self, dyno: Dyno) -> float:
        return memory_quota_mb(self.settings, dyno.size)

    # what others ask for
    async def converge(self, app_id: str, restart: bool | Collection[str] = False,
                       reason: str = "Restarting") -> None:
        """Bring the app's dynos in line with its formation and current release. Dynos on an older
        release, or named in `restart` (True: all), are replaced: the new one starts as the old one gets
        SIGTERM. Returns once the new dynos are launched; the old ones stop in the background."""
        async with self._lock(app_id):
            if self._closing:
                return
            app = await self.store.get_app(app_id)
            if app is None:
                return
            release = await self.store.current_release(app_id)
            slug = await self.store.get_slug(app_id, release.slug_id) if release.slug_id else None
            formation = await self.store.list_formation(app_id) if slug else []
            desired = {f"{f.type}.{n}": f for f in formation for n in range(1, f.quantity + 1)}
            current = self._dynos.setdefault(app_id, {})
            stops = []
            for name in sorted(set(current) - set(desired), key=lambda n: -int(n.rsplit(".", 1)[1])):
                stops.append(self._retire(current.pop(name), scale_down=True))
            for name, entry in desired.items():
                old = current.get(name)
                wanted = restart is True or (not isinstance(restart, bool) and name in restart)
                if old is not None and not wanted and old.release.id == release.id \
                        and old.command == entry.command and old.size == entry.size:
                    continue
                assert slug is not None
                dyno = Dyno(new_id(), app_id, app.name, name, entry.type, entry.command, entry.size, release,
                            Path(slug.path), free_port(), self.clock.now())
                if old is not None:
                    self._log(old, reason)
                    stops.append(self._replace(old, dyno))  # the new dyno is in place at once
                else:
                    current[name] = dyno
                    self._launch(dyno, "down")
            self.table.update(app_id, released=slug is not None, maintenance=app.maintenance,
                              web_quantity=sum(f.quantity for f in formation if f.type == "web"))
            self._publish(app_id)
        for stop in stops:
            self._spawn(stop)  # old dynos get their grace period without holding up the caller

    async def restart(self, app_id: str, target: str | None = None) -> list[str]:
        """`ps:restart [TYPE|DYNO]`: replace those formation dynos now; returns their names."""
        names = self._targets(app_id, target)
        await self.converge(app_id, restart=names)
        return names

    async def stop(self, app_id: str, target: str) -> list[Dyno]:
        """`ps:stop DYNO|TYPE`: one-offs end; formation dynos stop and the formation starts new ones."""
        if "." in target:
            found = self.find(app_id, target)
            if found is None:
                raise NotFound(f"Couldn't find that dyno ({target}).")
            dynos = [found]
        else:
            dynos = [dyno for dyno in self.list(app_id) if dyno.type == target]
            if not dynos:
                raise NotFound(f"Couldn't find that process type ({target}).")
        formation = [dyno for dyno in dynos if dyno.kind == FORMATION]
        for dyno in dynos:
            if dyno.kind != FORMATION:
                self._spawn(self._retire(dyno, scale_down=False))
        if formation:
            async with self._lock(app_id):
                current = self._dynos.get(app_id, {})
                for dyno in formation:
                    if current.get(dyno.name) is dyno:
                        del current[dyno.name]
            await asyncio.gather(*(self._retire(dyno, scale_down=True) for dyno in formation))
            await self.converge(app_id)
        return dynos

    async def run(self, app_id: str, command: str, user: str, *, attach: bool = False, tty: bool = False,
                  size: str | None = None, env: dict[str, str] | None = None, kind: str = ONE_OFF) -> Dyno:
        """A one-off dyno (`herokusim run` / `run:detached`) on the current release, started by `user`;
        `kind` SCHEDULER names it `scheduler.N` (a Heroku Scheduler job's run)."""
        if not command.strip():
            raise InvalidParams("Give a command to run, e.g. `herokusim run bash`.")
        if size is not None and size not in SIZES:
            raise InvalidParams(f"Unknown dyno size {size!r}: use one of {', '.join(SIZES)}.")
        async with self._lock(app_id):
            app = await self.store.get_app(app_id)
            if app is None:
                raise NotFound(f"Couldn't find that app ({app_id}).")
            release = await self.store.current_release(app_id)
            slug = await self.store.get_slug(app_id, release.slug_id) if release.slug_id else None
            if slug is None:
                raise InvalidParams(f"⬢ {app.name} has no release with a slug yet: push to it first.")
            dyno = self._one_off(app_id, app.name, kind, command, size or "standard-1X", release,
                                 Path(slug.path), env or {}, tty=tty)
            if attach:
                dyno.attachment = Attachment()
                self._attachments[dyno.attachment.secret] = dyno
                self._spawn(self._await_attach(dyno))
            # the API's line comes first, as on Heroku, before the dyno's own state changes
            self.logplex.publish(app_id, "app", "api",
                                 f"Starting process with command `{command}` by user {user}")
            self._launch(dyno, "down")
            return dyno

    async def run_scheduled(self, app_id: str, command: str, user: str, size: str, limit: float,
                            wait: float = SCHEDULED_WAIT) -> Dyno:
        """A Heroku Scheduler job's run: a detached `scheduler.N` one-off with the app's config. Returns once
        the dyno exited, or after `wait` real seconds (it then runs on, shown by `ps`), so that during a warp
        its lines carry the run's own simulated time. As on Heroku, a run still going `limit` simulated
        seconds later (the job's interval) is stopped."""
        dyno = await self.run(app_id, command, user, size=size, kind=SCHEDULER)

        async def expire() -> None:
            if not dyno.exited.is_set() and not dyno.stopping:
                await self._retire(dyno, scale_down=False)

        timer = self.clock.call_later(limit, expire)
        if dyno.task is not None:
            dyno.task.add_done_callback(lambda _: timer.cancel())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await asyncio.shield(dyno.exited.wait())
        if dyno.exited.is_set() and dyno.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(dyno.task)  # its `complete` state line too
        return dyno

    async def run_release_phase(self, app_id: str, app_name: str, release: Release, slug_path: Path,
                                command: str, on_line: Callable[[str], None] | None = None) -> int:
        """The release phase of `release`: its `release:` command in a release.NNNN dyno; its exit status."""
        async with self._lock(app_id):
            dyno = self._one_off(app_id, app_name, RELEASE, command, "standard-1X", release, slug_path, {})
            dyno.on_line = on_line
            self._launch(dyno, "down")
        await dyno.exited.wait()
        assert dyno.task is not None
        await asyncio.shield(dyno.task)
        return dyno.exit_status if dyno.exit_status is not None else 1

    def attachment(self, secret: str) -> Dyno | None:
        """The one-off waiting for the terminal with this secret; taken once."""
        dyno = self._attachments.pop(secret, None)
        if dyno is not None and dyno.attachment is not None:
            dyno.attachment.attached = True
        return dyno

    async def stop_app(self, app_id: str) -> None:
        """Stop every dyno of an app (apps:destroy)."""
        async with self._lock(app_id):
            dynos = [*self._dynos.pop(app_id, {}).values(), *self._one_offs.pop(app_id, {}).values()]
            await asyncio.gather(*(self._retire(d, scale_down=True) for d in dynos))
        self._locks.pop(app_id, None)

    async def reconcile(self) -> None:
        """On daemon start: stop what a previous daemon left running, then bring every formation back."""
        for record in await self.store.list_all_dynos():
            await self.runtime.reap_orphan(record.id, record.handle)
            await self.store.delete_dyno(record.id)
        await self.runtime.reap_strays()
        for app in await self.store.list_apps():
            self.table.add_app(app.id, app.name)
            await self.converge(app.id)

    async def shutdown(self) -> None:
        """Daemon stop: every dyno gets SIGTERM, the grace period, then SIGKILL."""
        self._closing = True
        dynos = [d for group in (self._dynos, self._one_offs) for app in group.values() for d in app.values()]
        self._dynos.clear()
        self._one_offs.clear()
        await asyncio.gather(*(self._retire(d, scale_down=True) for d in dynos))
        await asyncio.gather(*self._timers, return_exceptions=True)  # stops and state writes in flight
        await asyncio.gather(*(d.task for d in self._retiring if d.task), return_exceptions=True)

    # the lifecycle
    def _lock(self, app_id: str) -> asyncio.Lock:
        return self._locks.setdefault(app_id, asyncio.Lock())

    def _targets(self, app_id: str, target: str | None) -> list[str]:
        current = self._dynos.get(app_id, {})
        if target is None:
            return sorted(current)
        if "." in target:
            if target not in current:
                raise NotFound(f"Couldn't find that dyno ({target}).")
            return [target]
        names = sorted(n for n, d in current.items() if d.type == target)
        if not names:
            raise NotFound(f"Couldn't find that process type ({target}).")
        return names

    def _one_off(self, app_id: str, app_name: str, kind: str, command: str, size: str, release: Release,
                 slug_path: Path, env: dict[str, str], tty: bool = False) -> Dyno:
        taken = set(self._one_offs.get(app_id, {}))
        while (name := f"{kind}.{random.randint(1000, 9999)}") in taken:
            pass
        dyno = Dyno(new_id(), app_id, app_name, name, kind, command, size, release, slug_path, free_port(),
                    self.clock.now(), kind=kind, env=env, tty=tty)
        self._one_offs.setdefault(app_id, {})[name] = dyno
        return dyno

    def _log(self, dyno: Dyno, message: str) -> None:
        self.logplex.publish(dyno.app_id, "heroku", dyno.name, message)

    def _set_state(self, dyno: Dyno, state: str) -> None:
        # every state line comes from here: a dyno replacing a starting one is `starting` too, and a state
        # that does not change is no change to log
        if state != dyno.state:
            self._log(dyno, f"State changed from {dyno.state} to {state}")
        dyno.state = state
        dyno.state_since = self.clock.now()
        dyno.up_since = self.clock.time() if state == "up" else None
        if state == "up" and not dyno.stopping:
            # every dyno, one-offs too, cycles 24 h (+ jitter) after it came up; only a running dyno cycles:
            # crashing or stopping cancels the timer
            delay = CYCLE_HOURS * 3600 + random.uniform(0, CYCLE_JITTER_MINUTES * 60)
            dyno.cycle_timer = self.clock.call_later(delay, lambda: self._cycle(dyno))
        if not dyno.stopping:
            self._publish(dyno.app_id)
        self._persist(dyno)

    def _persist(self, dyno: Dyno) -> None:
        handle = dyno.running.handle if dyno.running else ""
        record = DynoRecord(dyno.id, dyno.app_id, dyno.name, dyno.type, dyno.state, dyno.command, dyno.size,
                            dyno.release.id, self.runtime.name, handle,
                            dyno.created_at.isoformat(), (dyno.state_since or dyno.created_at).isoformat())
        self._spawn(self.store.save_dyno(record))

    def _spawn(self, coro: object) -> asyncio.Future[None]:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)
        return task

    def _publish(self, app_id: str) -> None:
        dynos = [d for d in self._dynos.get(app_id, {}).values() if d.type == "web"]
        backends = [Backend(d.name, "127.0.0.1", d.port) for d in dynos if d.state == "up" and not d.stopping]
        crashed = not backends and any(d.state == "crashed" for d in dynos)
        self.table.set_backends(app_id, backends, crashed)

    def _launch(self, dyno: Dyno, from_state: str) -> None:
        dyno.state = from_state
        self._set_state(dyno, "starting")
        dyno.task = asyncio.create_task(self._run(dyno), name=f"dyno {dyno.app_name} {dyno.name}")

    def _replace(self, old: Dyno, new: Dyno) -> Coroutine[None, None, None]:
        """Put `new` in `old`'s place now (its state line follows `old`'s); returns the stop of `old`."""
        self._dynos.setdefault(old.app_id, {})[old.name] = new
        self._cancel_timers(old)
        old.stopping = True
        self._launch(new, old.state)
        return self._retire(old, scale_down=False)

    async def _cycle(self, dyno: Dyno) -> None:
        """The daily cycle: `Cycling`, then a formation dyno restarts in a fresh dyno; a one-off just stops.
        Returns once that is done, so a warp logs it all at the cycle's own simulated time."""
        async with self._lock(dyno.app_id):
            if self._closing or self.find(dyno.app_id, dyno.name) is not dyno or dyno.stopping \
                    or dyno.state != "up":
                return
            self._log(dyno, "Cycling")
            fresh = None
            if dyno.kind == FORMATION:
                fresh = Dyno(new_id(), dyno.app_id, dyno.app_name, dyno.name, dyno.type, dyno.command,
                             dyno.size, dyno.release, dyno.slug_path, free_port(), self.clock.now())
                stop = self._spawn(self._replace(dyno, fresh))
            else:
                stop = self._spawn(self._retire(dyno, scale_down=False))
        if fresh is not None:
            await self._process_started(fresh)
        await asyncio.shield(stop)  # a daemon stopping meanwhile still lets the dyno finish stopping

    async def _process_started(self, dyno: Dyno) -> None:
        """Wait until the dyno's process exists (or failed to start): a timer that starts a dyno returns only
        then, so during a warp its `Starting process` line carries the timer's simulated time."""
        assert dyno.task is not None
        started = asyncio.ensure_future(dyno.started.wait())
        try:
            await asyncio.wait({started, dyno.task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            started.cancel()

    def _cancel_timers(self, dyno: Dyno) -> None:
        for timer in (dyno.restart_timer, dyno.cycle_timer):
            if timer is not None:
                timer.cancel()

    async def _run(self, dyno: Dyno) -> None:
        quota = self.memory_quota_mb(dyno)
        limit = r15_limit_mb(self.settings, dyno.size)
        spec = DynoSpec(dyno.id, dyno.app_id, dyno.app_name, dyno.name, dyno.command,
                        {**dyno.release.config, **dyno.env, "PORT": str(dyno.port), "DYNO": dyno.name},
                        dyno.slug_path, dyno.port, release_version=dyno.release.version,
                        memory_limit_mb=int(limit) + 1, interactive=dyno.tty,
                        stdin=dyno.attachment is not None and not dyno.tty)
        try:
            dyno.running = running = await self.runtime.start(spec)
        except Exception as exc:  # noqa: BLE001 - a dyno that cannot start is a crash, not a daemon failure
            self._log(dyno, f"Error starting process: {exc}")
            dyno.started.set()
            dyno.exited.set()
            self._ended(dyno, None)
            return
        self._log(dyno, f"Starting process with command `{dyno.command}`")
        dyno.started.set()
        self._persist(dyno)
        if dyno.stopping:
            self._log(dyno, "Stopping all processes with SIGTERM")
            running.terminate()
        pump = asyncio.create_task(self._pump(dyno, running))
        exit_wait = asyncio.create_task(running.wait())
        watch = asyncio.create_task(self._watch_memory(dyno, running, quota, limit))
        status: int | None = None
        try:
            if dyno.type == "web" and dyno.kind == FORMATION:
                await self._await_bind(dyno, running, exit_wait)
            elif not dyno.stopping:
                self._set_state(dyno, "up")
            status = await exit_wait
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(OUTPUT_DRAIN):
                    await asyncio.shield(pump)
            if running.oom_killed() and not watch.done():  # the backend's hard limit struck first
                self._report_r15(dyno, limit, quota)
            self._log(dyno, f"Process exited with status {status}")
        finally:
            pump.cancel()
            exit_wait.cancel()
            watch.cancel()
            dyno.exit_status = status
            if dyno.attachment is not None:
                dyno.attachment.output.put_nowait(None)
            await running.cleanup()
            dyno.exited.set()
        self._ended(dyno, status)

    def _ended(self, dyno: Dyno, status: int | None) -> None:
        if dyno.kind != FORMATION:
            self._set_state(dyno, "complete")
            self._cancel_timers(dyno)  # its cycle
            one_offs = self._one_offs.get(dyno.app_id, {})
            if one_offs.get(dyno.name) is dyno:
                del one_offs[dyno.name]
            if dyno.attachment is not None:
                self._attachments.pop(dyno.attachment.secret, None)
            self._retiring.discard(dyno)
            self._spawn(self.store.delete_dyno(dyno.id))
        elif dyno.stopping:
            self._retiring.discard(dyno)
            self._spawn(self.store.delete_dyno(dyno.id))
        else:
            self._crashed(dyno)

    async def _await_bind(self, dyno: Dyno, running: RunningDyno, exit_wait: asyncio.Task[int]) -> None:
        """A web dyno is up once it accepts on $PORT; R10 if not within the boot timeout."""
        deadline = asyncio.get_running_loop().time() + self.settings.boot_timeout
        while not exit_wait.done() and not dyno.stopping:
            if await running.listening():
                self._set_state(dyno, "up")
                return
            if asyncio.get_running_loop().time() >= deadline:
                seconds = f"{self.settings.boot_timeout:g}"
                self._log(dyno, "Error R10 (Boot timeout) -> Web process failed to bind to $PORT within "
                                f"{seconds} seconds of launch")
                self._log(dyno, "Stopping process with SIGKILL")
                running.kill()
                return
            await asyncio.sleep(PORT_POLL)

    async def _watch_memory(self, dyno: Dyno, running: RunningDyno, quota: float, limit: float) -> None:
        """R14 above the size's quota (at most every 20 s), R15 and SIGKILL above its R15 limit."""
        last_r14 = -R14_INTERVAL
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(MEMORY_SAMPLE)
            used = await running.memory_mb()
            if used is None:
                continue
            dyno.memory_mb = used
            if used > limit:
                self._report_r15(dyno, used, quota)
                running.kill()
                return
            if used > quota and loop.time() - last_r14 >= R14_INTERVAL:
                last_r14 = loop.time()
                self._log(dyno, _usage(used, quota))
                self._log(dyno, "Error R14 (Memory quota exceeded)")

    def _report_r15(self, dyno: Dyno, used: float, quota: float) -> None:
        """R15: measured above the size's R15 limit, or killed by the backend at that hard limit."""
        self._log(dyno, _usage(used, quota))
        self._log(dyno, "Error R15 (Memory quota vastly exceeded)")
        self._log(dyno, "Stopping process with SIGKILL")

    async def _pump(self, dyno: Dyno, running: RunningDyno) -> None:
        """The dyno's output: to its terminal when attached, else line by line into its app's log."""
        if dyno.attachment is not None:
            async for chunk in running.output():
                dyno.attachment.output.put_nowait(chunk)
            return
        pending = b""
        async for chunk in running.output():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._app_line(dyno, line.rstrip(b"\r").decode("utf-8", "replace"))
        if pending:
            self._app_line(dyno, pending.decode("utf-8", "replace"))

    def _app_line(self, dyno: Dyno, line: str) -> None:
        self.logplex.publish(dyno.app_id, "app", dyno.name, line)
        if dyno.on_line is not None:
            dyno.on_line(line)

    async def _await_attach(self, dyno: Dyno) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ATTACH_TIMEOUT):
                await dyno.exited.wait()  # ended (or stopped by a daemon shutdown): nothing to watch
                return
        if dyno.attachment is not None and not dyno.attachment.attached and not dyno.exited.is_set():
            self._attachments.pop(dyno.attachment.secret, None)
            self._log(dyno, "Error: no terminal attached; stopping the one-off dyno")
            await self._retire(dyno, scale_down=False)

    def _crashed(self, dyno: Dyno) -> None:
        """Any exit of a formation dyno is a crash; restart it on Heroku's cool-off schedule."""
        stable = dyno.up_since is not None and self.clock.time() - dyno.up_since >= CRASH_STABLE_MINUTES * 60
        self._set_state(dyno, "crashed")
        self._cancel_timers(dyno)
        dyno.crashes = 1 if stable else dyno.crashes + 1
        if self._closing or self._dynos.get(dyno.app_id, {}).get(dyno.name) is not dyno:
            return
        minutes = crash_cooloff(dyno.crashes)
        if minutes == 0:
            self._spawn(self._restart_crashed(dyno))
        else:
            dyno.restart_timer = self.clock.call_later(minutes * 60, lambda: self._restart_crashed(dyno))
            self._persist(dyno)

    async def _restart_crashed(self, crashed: Dyno) -> None:
        async with self._lock(crashed.app_id):
            current = self._dynos.get(crashed.app_id, {})
            if self._closing or current.get(crashed.name) is not crashed:
                return  # replaced by a release, a restart or a scale meanwhile
            dyno = Dyno(new_id(), crashed.app_id, crashed.app_name, crashed.name, crashed.type, crashed.command,
                        crashed.size, crashed.release, crashed.slug_path, free_port(), self.clock.now(),
                        crashes=crashed.crashes)
            current[dyno.name] = dyno
            self._launch(dyno, "crashed")
        await self._process_started(dyno)

    async def _retire(self, dyno: Dyno, scale_down: bool) -> None:
        """Stop a dyno: SIGTERM to all its processes, the grace period, then SIGKILL (R12)."""
        dyno.stopping = True
        self._cancel_timers(dyno)
        self._retiring.add(dyno)
        self._publish(dyno.app_id)
        if scale_down and dyno.state not in ("crashed", "down", "complete"):
            self._set_state(dyno, "down")
        if dyno.task is None or dyno.task.done():
            self._retiring.discard(dyno)
            await self.store.delete_dyno(dyno.id)
            return
        if dyno.running is not None and not dyno.exited.is_set():
            self._log(dyno, "Stopping all processes with SIGTERM")
            dyno.running.terminate()
        # else the dyno is still being started: _run sends SIGTERM as soon as its process exists
        try:
            async with asyncio.timeout(self.settings.stop_grace):
                await dyno.exited.wait()
        except TimeoutError:
            seconds = f"{self.settings.stop_grace:g}"
            self._log(dyno, f"Error R12 (Exit timeout) -> At least one process failed to exit within {seconds} "
                            "seconds of SIGTERM")
            self._log(dyno, "Stopping remaining processes with SIGKILL")
            if dyno.running is not None:
                dyno.running.kill()
            await dyno.exited.wait()


def _usage(used: float, quota: float) -> str:
    return f"Process running mem={used:.0f}M({used / quota * 100:.1f}%)"
