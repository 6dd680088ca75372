"""dynos/: the dyno manager — formation reconcile, the dyno state machine, restarts and crashes.

Behaviour (states, Heroku's log lines, the $PORT contract, SIGTERM/SIGKILL, crash restarts) lives here;
a runtime backend only starts, signals, waits and measures. The router reads the routing table this
room publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from herokusim.clock import Clock
from herokusim.config import Settings
from herokusim.dynos.runtime import DynoSpec, RunningDyno, Runtime
from herokusim.logplex import Logplex
from herokusim.router.table import Backend, RoutingTable
from herokusim.store import DynoRecord, Release, Store, new_id

# Minutes of cool-off before each restart of a crashed dyno: the first at once, then 20, 40, 60, 180,
# 320 and every 320 after that (simulated clock).
CRASH_COOLOFFS = (0, 20, 40, 60, 180, 320)
PORT_POLL = 0.05  # seconds between checks that a booting web dyno accepts on $PORT
OUTPUT_DRAIN = 1.0  # seconds to finish reading a dyno's output after its process exited


def crash_cooloff(crashes: int) -> float:
    """Minutes to wait before restarting a dyno that has crashed `crashes` times in a row (>= 1)."""
    return CRASH_COOLOFFS[min(crashes, len(CRASH_COOLOFFS)) - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(eq=False)
class Dyno:
    id: str
    app_id: str
    app_name: str
    name: str
    type: str
    command: str
    size: str
    release: Release
    slug_path: Path
    port: int
    created_at: datetime
    state: str = "down"
    state_since: datetime | None = None
    crashes: int = 0  # consecutive crashes, for the cool-off schedule
    stopping: bool = False
    running: RunningDyno | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def number(self) -> int:
        return int(self.name.rsplit(".", 1)[1])


class DynoManager:
    def __init__(self, settings: Settings, store: Store, logplex: Logplex, table: RoutingTable,
                 runtime: Runtime, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.logplex = logplex
        self.table = table
        self.runtime = runtime
        self.clock = clock
        self._dynos: dict[str, dict[str, Dyno]] = {}  # app id -> name -> the dyno answering to that name
        self._retiring: set[Dyno] = set()  # replaced or scaled away, still shutting down
        self._timers: set[asyncio.Task[None]] = set()  # background stops and state writes
        self._cooloffs: set[asyncio.Task[None]] = set()  # crashed dynos waiting for their restart
        self._locks: dict[str, asyncio.Lock] = {}
        self._closing = False

    # what others read
    def list(self, app_id: str) -> list[Dyno]:
        return sorted(self._dynos.get(app_id, {}).values(), key=lambda d: (d.type, d.number))

    # what others ask for
    async def converge(self, app_id: str, restart: bool = False, reason: str = "Restarting") -> None:
        """Bring the app's dynos in line with its formation and current release. Dynos on an older
        release (or all of them, with `restart`) are replaced: the new one starts as the old one gets
        SIGTERM. Returns once the new dynos are launched; the old ones stop in the background."""
        async with self._locks.setdefault(app_id, asyncio.Lock()):
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
                if old is not None and not restart and old.release.id == release.id \
                        and old.command == entry.command and old.size == entry.size:
                    continue
                assert slug is not None
                dyno = Dyno(new_id(), app_id, app.name, name, entry.type, entry.command, entry.size, release,
                            Path(slug.path), free_port(), self.clock.now())
                current[name] = dyno
                if old is not None:
                    self._log(old, reason)
                    from_state = old.state
                    stops.append(self._retire(old, scale_down=False))
                else:
                    from_state = "down"
                self._launch(dyno, from_state)
            self.table.update(app_id, released=slug is not None, maintenance=app.maintenance,
                              web_quantity=sum(f.quantity for f in formation if f.type == "web"))
            self._publish(app_id)
        for stop in stops:
            self._spawn(stop)  # old dynos get their grace period without holding up the caller

    async def stop_app(self, app_id: str) -> None:
        """Stop every dyno of an app (apps:destroy)."""
        async with self._locks.setdefault(app_id, asyncio.Lock()):
            dynos = self._dynos.pop(app_id, {})
            await asyncio.gather(*(self._retire(d, scale_down=True) for d in dynos.values()))
        self._locks.pop(app_id, None)

    async def reconcile(self) -> None:
        """On daemon start: stop what a previous daemon left running, then bring every formation back."""
        for record in await self.store.list_all_dynos():
            await self.runtime.reap_orphan(record.id, record.handle)
            await self.store.delete_dyno(record.id)
        for app in await self.store.list_apps():
            self.table.add_app(app.id, app.name)
            await self.converge(app.id)

    async def shutdown(self) -> None:
        """Daemon stop: every dyno gets SIGTERM, the grace period, then SIGKILL."""
        self._closing = True
        for timer in self._cooloffs:
            timer.cancel()
        dynos = [d for app in self._dynos.values() for d in app.values()]
        self._dynos.clear()
        await asyncio.gather(*(self._retire(d, scale_down=True) for d in dynos))
        await asyncio.gather(*self._timers, return_exceptions=True)  # stops and state writes in flight
        await asyncio.gather(*(d.task for d in self._retiring if d.task), return_exceptions=True)

    # the lifecycle
    def _log(self, dyno: Dyno, message: str) -> None:
        self.logplex.publish(dyno.app_id, "heroku", dyno.name, message)

    def _set_state(self, dyno: Dyno, state: str, log: bool = True) -> None:
        if log:
            self._log(dyno, f"State changed from {dyno.state} to {state}")
        dyno.state = state
        dyno.state_since = self.clock.now()
        if not dyno.stopping:
            self._publish(dyno.app_id)
        self._persist(dyno)

    def _persist(self, dyno: Dyno) -> None:
        handle = dyno.running.handle if dyno.running else ""
        record = DynoRecord(dyno.id, dyno.app_id, dyno.name, dyno.type, dyno.state, dyno.command, dyno.size,
                            dyno.release.id, self.runtime.name, handle,
                            dyno.created_at.isoformat(), (dyno.state_since or dyno.created_at).isoformat())
        self._spawn(self.store.save_dyno(record))

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    def _publish(self, app_id: str) -> None:
        dynos = [d for d in self._dynos.get(app_id, {}).values() if d.type == "web"]
        backends = [Backend(d.name, "127.0.0.1", d.port) for d in dynos if d.state == "up"]
        crashed = not backends and any(d.state == "crashed" for d in dynos)
        self.table.set_backends(app_id, backends, crashed)

    def _launch(self, dyno: Dyno, from_state: str) -> None:
        dyno.state = from_state
        self._set_state(dyno, "starting")
        dyno.task = asyncio.create_task(self._run(dyno), name=f"dyno {dyno.app_name} {dyno.name}")

    async def _run(self, dyno: Dyno) -> None:
        spec = DynoSpec(dyno.id, dyno.app_id, dyno.app_name, dyno.name, dyno.command,
                        {**dyno.release.config, "PORT": str(dyno.port), "DYNO": dyno.name},
                        dyno.slug_path, dyno.port)
        try:
            dyno.running = running = await self.runtime.start(spec)
        except Exception as exc:  # noqa: BLE001 - a dyno that cannot start is a crash, not a daemon failure
            self._log(dyno, f"Error starting process: {exc}")
            dyno.exited.set()
            self._crashed(dyno)
            return
        self._log(dyno, f"Starting process with command `{dyno.command}`")
        self._persist(dyno)
        if dyno.stopping:
            self._log(dyno, "Stopping all processes with SIGTERM")
            running.terminate()
        pump = asyncio.create_task(self._pump(dyno, running))
        exit_wait = asyncio.create_task(running.wait())
        try:
            if dyno.type == "web":
                await self._await_bind(dyno, running, exit_wait)
            elif not dyno.stopping:
                self._set_state(dyno, "up")
            status = await exit_wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(pump), OUTPUT_DRAIN)
            self._log(dyno, f"Process exited with status {status}")
        finally:
            pump.cancel()
            exit_wait.cancel()
            dyno.exited.set()
            await running.cleanup()
        if dyno.stopping:
            self._retiring.discard(dyno)
            await self.store.delete_dyno(dyno.id)
        else:
            self._crashed(dyno)

    async def _await_bind(self, dyno: Dyno, running: RunningDyno, exit_wait: asyncio.Task[int]) -> None:
        """A web dyno is up once it accepts on $PORT; R10 if not within the boot timeout."""
        deadline = asyncio.get_running_loop().time() + self.settings.boot_timeout
        while not exit_wait.done() and not dyno.stopping:
            if await _accepts("127.0.0.1", dyno.port):
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

    async def _pump(self, dyno: Dyno, running: RunningDyno) -> None:
        """The dyno's output, line by line, into its app's log as app[web.1]."""
        pending = b""
        async for chunk in running.output():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.logplex.publish(dyno.app_id, "app", dyno.name, line.rstrip(b"\r").decode("utf-8", "replace"))
        if pending:
            self.logplex.publish(dyno.app_id, "app", dyno.name, pending.decode("utf-8", "replace"))

    def _crashed(self, dyno: Dyno) -> None:
        """Any exit of a formation dyno is a crash; restart it on Heroku's cool-off schedule."""
        self._set_state(dyno, "crashed")
        dyno.crashes += 1
        if self._dynos.get(dyno.app_id, {}).get(dyno.name) is not dyno:
            return
        timer = asyncio.create_task(self._restart_after_cooloff(dyno, crash_cooloff(dyno.crashes)))
        self._cooloffs.add(timer)
        timer.add_done_callback(self._cooloffs.discard)

    async def _restart_after_cooloff(self, crashed: Dyno, minutes: float) -> None:
        await self.clock.sleep(minutes * 60)
        async with self._locks.setdefault(crashed.app_id, asyncio.Lock()):
            current = self._dynos.get(crashed.app_id, {})
            if self._closing or current.get(crashed.name) is not crashed:
                return  # replaced by a release, a restart or a scale meanwhile
            dyno = Dyno(new_id(), crashed.app_id, crashed.app_name, crashed.name, crashed.type, crashed.command,
                        crashed.size, crashed.release, crashed.slug_path, free_port(), self.clock.now(),
                        crashes=crashed.crashes)
            current[dyno.name] = dyno
            self._launch(dyno, "crashed")

    async def _retire(self, dyno: Dyno, scale_down: bool) -> None:
        """Stop a dyno: SIGTERM to all its processes, the grace period, then SIGKILL (R12)."""
        dyno.stopping = True
        self._retiring.add(dyno)
        self._publish(dyno.app_id)
        if scale_down and dyno.state != "crashed":
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
            await asyncio.wait_for(dyno.exited.wait(), self.settings.stop_grace)
        except TimeoutError:
            seconds = f"{self.settings.stop_grace:g}"
            self._log(dyno, f"Error R12 (Exit timeout) -> Process failed to exit within {seconds} seconds "
                            "of SIGTERM")
            self._log(dyno, "Stopping process with SIGKILL")
            if dyno.running is not None:
                dyno.running.kill()
            await dyno.exited.wait()


async def _accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
