"""dynos/runtime/docker: a dyno is a new container from the stack image with the slug at /app, one per start.

Every Docker SDK call blocks: short ones run in worker threads, and each dyno's output and exit are
followed by a thread of its own (they block for the dyno's whole life, which would starve the loop's
small default pool). Containers and networks carry labels naming this HEROKUSIM_HOME, so a daemon only
ever reaps its own.

Add-on servers run on the host. Dynos reach them at `host.docker.internal`, which names the gateway of one
more network, the home's add-ons network (`herokusim-<key>-addons`): its bridge address is an address of
this machine that Docker owns and no app network shares, where the servers listen beside 127.0.0.1. No
container joins that network (joined, dynos of different apps would find each other's names on it): a
dyno reaches the address from its own app's network as it reaches any address of the host, through the
host's input path, not by forwarding between bridges. The network outlives the daemon, so its gateway,
and servers left listening there, stay the same from one start to the next.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import ipaddress
import socket
import tarfile
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from herokusim import stack
from herokusim.config import Settings
from herokusim.dynos.runtime.backend import DynoSpec, Runtime, boot_command
from herokusim.dynos.runtime.process import ProcessRuntime

LABEL_HOME = "herokusim.home"
LABEL_ROLE = "herokusim.role"  # dyno | build | network | addons
LABEL_APP = "herokusim.app"
LABEL_APP_NAME = "herokusim.app-name"
LABEL_RELEASE = "herokusim.release"
LABEL_DYNO = "herokusim.dyno"
LABEL_DYNO_ID = "herokusim.dyno-id"
APP_ROOT = "/app"
HOST_ALIAS = "host.docker.internal"  # add-on services on the host: the add-ons network's gateway
ROLE_ADDONS = "addons"  # the add-ons network's role label: kept when the daemon stops or reaps
PS1 = r"\[\033[01;34m\]\w\[\033[00m\] \[\033[01;32m\]$ \[\033[00m\]"
TCP_LISTEN = "0A"
# An app's network outlives its last dyno this long, so a restart after a crash or a cycle does not pay to
# make it again; a daemon that exits removes the idle ones, and one that is killed, on its next start.
NETWORK_LINGER = 30.0
SLUG_SPOOL = 64 * 2**20  # a slug being re-owned stays in memory up to this size, then goes to a temp file


class RuntimeUnavailable(Exception):
    """The chosen runtime cannot run here; str(e) says why and what to do instead."""


def home_key(home: Path) -> str:
    """A short stable name for one HEROKUSIM_HOME, used in container and network names."""
    return hashlib.sha256(str(home).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class RuntimeChoice:
    runtime: Runtime
    why: str  # for the banner: why this runtime, and what it is still doing ("" when nothing to say)


def choose_runtime(settings: Settings, progress: Callable[[str], None]) -> RuntimeChoice:
    """The runtime `settings.runtime` asks for (auto: Docker when an engine answers and its stack image
    exists or can be built here). Blocking, but short: a missing image is built in the background."""
    auto = settings.runtime == "auto"
    if settings.runtime == "process":
        return RuntimeChoice(ProcessRuntime(settings.dynos_dir), "")
    client = stack.connect()
    if client is None:
        if not auto:
            raise RuntimeUnavailable("no Docker engine answers (is dockerd running, is DOCKER_HOST right?); "
                                     "start one, or use `herokusim up --runtime process`")
        return RuntimeChoice(ProcessRuntime(settings.dynos_dir), "auto: no Docker engine answers")
    try:
        mirror = stack.read_mirror()
    except stack.StackError as exc:
        return _docker_unusable(settings, f"its stack image needs {exc}")
    tag = stack.image_tag(mirror)
    present = stack.find_image(client, tag) is not None
    # without the image, the machine must be able to build it; with it, debootstrap and root are not needed
    if not present and (blocker := stack.build_blocker()) is not None:
        return _docker_unusable(settings, f"building its stack image {blocker}")
    image = stack.StackImage(client, mirror, tag, present=present, progress=progress)
    why = ["auto: a Docker engine answered"] if auto else []
    if not present:
        image.build()
        why.append("building its stack image in the background: builds and dynos wait for it, "
                   "`herokusim stack` shows how far it is")
    return RuntimeChoice(DockerRuntime(client, image, settings.home), "; ".join(why))


def _docker_unusable(settings: Settings, what: str) -> RuntimeChoice:
    """Docker answered, but cannot run dynos here: an error when asked for, processes on auto."""
    if settings.runtime == "docker":
        raise RuntimeUnavailable(f"Docker answered, but {what}; or use `herokusim up --runtime process`")
    return RuntimeChoice(ProcessRuntime(settings.dynos_dir), f"auto: Docker answered, but {what}")


class DockerDyno:
    def __init__(self, runtime: DockerRuntime, container: Any, spec: DynoSpec, terminal: Any = None) -> None:
        self.runtime = runtime
        self.container = container
        self.spec = spec
        self.handle = container.id
        self.terminal = terminal  # the attached socket of a one-off with a terminal or piped input
        self._loop = asyncio.get_running_loop()
        self._chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self._exit: asyncio.Future[int] = self._loop.create_future()
        self._stream: Any = None
        self._pid: int | None = None
        self._oom = False
        self._cgroup: Path | None = None  # the container's memory cgroup on this machine; Path() if not here
        threading.Thread(target=self._follow, name=f"dyno {spec.app_name} {spec.name}", daemon=True).start()

    # the follower thread: output until the container's streams close, then its exit status
    def _follow(self) -> None:
        try:
            if self.terminal is not None:
                from docker.utils.socket import frames_iter

                # with a terminal the stream is raw; without one, frames tell stdout from stderr
                for _, data in frames_iter(_raw_socket(self.terminal), self.spec.interactive):
                    self._deliver(data)
            else:
                self._stream = self.container.logs(stream=True, follow=True, stdout=True, stderr=True)
                for data in self._stream:
                    self._deliver(data)
        except Exception:  # noqa: BLE001, S110 - the stream was closed under us by cleanup()
            pass
        self._deliver(b"")
        try:
            status = int(self.container.wait(timeout=None).get("StatusCode", 137))
            self.container.reload()
            self._oom = bool(self.container.attrs["State"].get("OOMKilled"))
        except Exception:  # noqa: BLE001 - removed while we waited: it was killed
            status = 137
        self._call(_set_result, self._exit, status)

    def _deliver(self, data: bytes) -> None:
        self._call(self._chunks.put_nowait, data)

    def _call(self, callback: Callable[..., Any], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the daemon's loop is gone: nobody is listening
            self._loop.call_soon_threadsafe(callback, *args)

    async def output(self) -> AsyncIterator[bytes]:
        while chunk := await self._chunks.get():
            yield chunk

    async def wait(self) -> int:
        return await asyncio.shield(self._exit)

    def _signal(self, signal: str) -> None:
        def send() -> None:
            with contextlib.suppress(Exception):  # already gone: nothing left to signal
                self.container.kill(signal=signal)

        # called from the loop: the HTTP call to the engine goes to a thread
        threading.Thread(target=send, daemon=True).start()

    def terminate(self) -> None:
        # docker-init forwards it to the whole process group (TINI_KILL_PROCESS_GROUP), like killpg
        self._signal("SIGTERM")

    def kill(self) -> None:
        self._signal("SIGKILL")

    async def cleanup(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        if self.terminal is not None:
            with contextlib.suppress(Exception):
                self.terminal.close()
        await self.runtime.remove(self.container.id, self.spec.app_id)

    async def memory_mb(self) -> float | None:
        # the dyno's cgroup files where this machine runs the engine: a read takes microseconds, where the
        # stats API takes about a second per call here (it samples CPU too), holding a worker thread
        if self._cgroup is None:
            self._cgroup = _cgroup_dir(self.container.id) or Path()
        if self._cgroup != Path():
            measured = _cgroup_memory_mb(self._cgroup)
            if measured is not None:
                return measured
        return await asyncio.to_thread(self._memory_mb)

    def _memory_mb(self) -> float | None:
        try:
            stats = self.container.stats(stream=False, one_shot=True)
        except Exception:  # noqa: BLE001 - gone or not running: not measurable now
            return None
        memory = stats.get("memory_stats") or {}
        usage = memory.get("usage")
        if not usage:
            return None
        details = memory.get("stats") or {}
        # like the docker CLI: page cache the kernel can drop is not the dyno's memory (v2, then v1 names)
        inactive = details.get("inactive_file", details.get("total_inactive_file", 0))
        return max(usage - inactive, 0) / 2**20

    def write_input(self, data: bytes) -> None:
        if self.terminal is not None:
            with contextlib.suppress(OSError):
                _raw_socket(self.terminal).sendall(data)

    def close_input(self) -> None:
        if self.spec.interactive:
            self.write_input(b"\x04")  # ^D: end of input, as a terminal says it
        elif self.terminal is not None:
            with contextlib.suppress(OSError):  # the engine closes the dyno's stdin (StdinOnce)
                _raw_socket(self.terminal).shutdown(socket.SHUT_WR)

    def oom_killed(self) -> bool:
        return self._oom

    async def listening(self) -> bool:
        """True once a process in the dyno listens on its $PORT. The port published on 127.0.0.1 accepts
        connections as soon as the container starts (Docker's proxy holds it), so accepting there does not
        tell that the app has bound $PORT; the container's own socket table does."""
        return await asyncio.to_thread(self._listening)

    def _listening(self) -> bool:
        if self._pid is None:
            with contextlib.suppress(Exception):
                self.container.reload()
                self._pid = int(self.container.attrs["State"]["Pid"]) or None
        tables: list[str] = []
        if self._pid is not None:
            for name in ("tcp", "tcp6"):
                with contextlib.suppress(OSError):
                    tables.append(Path(f"/proc/{self._pid}/net/{name}").read_text())
        if not tables:  # the engine runs elsewhere (a VM): ask inside the container
            try:
                result = self.container.exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"])
                tables.append(result.output.decode(errors="replace"))
            except Exception:  # noqa: BLE001 - not running
                return False
        return any(_listens(table, self.spec.port) for table in tables)


class DockerRuntime:
    name = "docker"

    def __init__(self, client: Any, image: stack.StackImage, home: Path) -> None:
        self.client = client
        self.stack = image  # its tag is known at once; the image may still be being built
        self.home = home
        self.key = home_key(home)
        self._app_locks: dict[str, asyncio.Lock] = {}
        self._idle_networks: dict[str, asyncio.TimerHandle] = {}
        self.network_linger = NETWORK_LINGER
        self._addons_lock = threading.Lock()
        self._addons_gateway: tuple[str | None] | None = None  # (gateway,) once known
        atexit.register(self._remove_networks_at_exit)

    @property
    def build_host(self) -> Any:
        from herokusim.builds.container import ContainerBuildHost

        return ContainerBuildHost(self.client, self.stack, self.home)

    def _labels(self, **extra: str) -> dict[str, str]:
        return {LABEL_HOME: str(self.home), **extra}

    def network_name(self, app_id: str) -> str:
        return f"herokusim-{self.key}-{app_id}"

    @property
    def addons_network_name(self) -> str:
        return f"herokusim-{self.key}-addons"

    def addons_gateway(self) -> str | None:
        """The address add-on servers listen on beside 127.0.0.1, and `host.docker.internal` in every dyno:
        the gateway of the home's add-ons network, made if missing. None when that address is not this
        machine's (an engine in a VM, as Docker Desktop runs it): servers then listen on 127.0.0.1 alone and
        dynos get the engine's `host-gateway`, which such engines forward to the host's loopback.
        Blocking (the Docker SDK): call it in a thread; the answer is kept for the runtime's life."""
        with self._addons_lock:
            if self._addons_gateway is None:
                gateway = self._ensure_addons_network()
                self._addons_gateway = (gateway if gateway is not None and is_local_address(gateway) else None,)
            return self._addons_gateway[0]

    def _ensure_addons_network(self) -> str | None:
        """The add-ons network (made if missing) and its IPv4 gateway. Internal and without
        inter-container traffic, so a container that is ever put on it gets no way out and no neighbours."""
        import docker

        name = self.addons_network_name
        try:
            network = self.client.networks.get(name)
        except docker.errors.NotFound:
            try:
                network = self.client.networks.create(
                    name, driver="bridge", internal=True,
                    options={"com.docker.network.bridge.enable_icc": "false"},
                    labels=self._labels(**{LABEL_ROLE: ROLE_ADDONS}))
            except docker.errors.APIError:  # a parallel start made it first
                network = self.client.networks.get(name)
        for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
            gateway = (config.get("Gateway") or "").split("/")[0]
            with contextlib.suppress(ValueError):
                if ipaddress.ip_address(gateway).version == 4:
                    return gateway
        return None

    async def start(self, spec: DynoSpec) -> DockerDyno:
        await asyncio.wrap_future(self.stack.build())  # the dyno stays `starting` while its image is built
        # the lock keeps the app's network from going with its last dyno while this one joins it
        async with self._app_locks.setdefault(spec.app_id, asyncio.Lock()):
            if (idle := self._idle_networks.pop(spec.app_id, None)) is not None:
                idle.cancel()
            container = await asyncio.to_thread(self._create, spec)
        try:
            terminal = await asyncio.to_thread(self._start, container, spec)
            return DockerDyno(self, container, spec, terminal)
        except BaseException:
            await self.remove(container.id, spec.app_id)
            raise

    def _create(self, spec: DynoSpec) -> Any:
        network = self._ensure_network(spec.app_id, spec.app_name)
        env = {
            "PS1": PS1,
            **spec.env,
            "HOME": APP_ROOT,
            "TINI_KILL_PROCESS_GROUP": "1",
        }
        if spec.interactive:
            env.setdefault("TERM", "xterm-256color")
        limits: dict[str, Any] = {}
        if spec.memory_limit_mb > 0:
            # the R15 threshold as a hard limit, no swap beyond it: the kernel's OOM kill is R15's SIGKILL
            limits = {"mem_limit": f"{spec.memory_limit_mb}m", "memswap_limit": f"{spec.memory_limit_mb}m"}
        container = self.client.containers.create(
            self.stack.tag,
            boot_command(spec.command),
            name=f"herokusim-{self.key}-{spec.app_name}-{spec.name}-{spec.dyno_id[:8]}",
            environment=env,
            working_dir=APP_ROOT,
            user=stack.DYNO_USER,  # unprivileged, as on Heroku
            init=True,
            labels=self._labels(**{
                LABEL_ROLE: "dyno", LABEL_APP: spec.app_id, LABEL_APP_NAME: spec.app_name,
                LABEL_RELEASE: str(spec.release_version), LABEL_DYNO: spec.name, LABEL_DYNO_ID: spec.dyno_id}),
            network=network,
            ports={f"{spec.port}/tcp": ("127.0.0.1", spec.port)},
            extra_hosts={HOST_ALIAS: self.addons_gateway() or "host-gateway"},
            mounts=stack.trust_mounts(),  # an app's HTTPS calls trust what the machine trusts
            tty=spec.interactive,
            stdin_open=spec.interactive or spec.stdin,
            **limits,
        )
        return container

    def _start(self, container: Any, spec: DynoSpec) -> Any:
        """Put the slug at /app and start; the attached terminal of an interactive one-off, else None."""
        with _owned_by_dyno_user(spec.slug_path) as slug:
            container.put_archive(APP_ROOT, slug)
        terminal = None
        if spec.interactive or spec.stdin:
            terminal = self.client.api.attach_socket(
                container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        container.start()
        return terminal

    def _ensure_network(self, app_id: str, app_name: str) -> str:
        """One bridge network per app: its dynos cannot reach another app's."""
        import docker

        name = self.network_name(app_id)
        try:
            self.client.networks.get(name)
        except docker.errors.NotFound:
            with contextlib.suppress(docker.errors.APIError):  # a parallel start made it first
                self.client.networks.create(name, driver="bridge", labels=self._labels(**{
                    LABEL_ROLE: "network", LABEL_APP: app_id, LABEL_APP_NAME: app_name}))
        return name

    async def remove(self, container_id: str, app_id: str) -> None:
        async with self._app_locks.setdefault(app_id, asyncio.Lock()):
            with contextlib.suppress(Exception):  # already removed
                await asyncio.to_thread(self.client.api.remove_container, container_id, force=True)
            if not await asyncio.to_thread(self._app_containers, app_id) and app_id not in self._idle_networks:
                loop = asyncio.get_running_loop()
                self._idle_networks[app_id] = loop.call_later(
                    self.network_linger, lambda: loop.create_task(self._remove_idle_network(app_id)))

    def _app_containers(self, app_id: str) -> list[Any]:
        return self.client.containers.list(all=True, filters={"label": [
            f"{LABEL_HOME}={self.home}", f"{LABEL_APP}={app_id}"]})

    async def _remove_idle_network(self, app_id: str) -> None:
        """The app's last dyno went a while ago (apps:destroy, scaled to 0): its network goes too."""
        async with self._app_locks.setdefault(app_id, asyncio.Lock()):
            if self._idle_networks.pop(app_id, None) is None or await asyncio.to_thread(self._app_containers,
                                                                                        app_id):
                return
            with contextlib.suppress(Exception):
                await asyncio.to_thread(lambda: self.client.networks.get(self.network_name(app_id)).remove())

    async def reap_orphan(self, dyno_id: str, handle: str) -> bool:
        return await asyncio.to_thread(self._reap, [f"{LABEL_DYNO_ID}={dyno_id}"]) != []

    async def reap_strays(self) -> list[str]:
        found = await asyncio.to_thread(self._reap, [])
        await asyncio.to_thread(self._remove_networks)
        # dynos this home ran as processes before it switched to Docker go too
        found += await ProcessRuntime(self.home / "dynos").reap_strays()
        return sorted(set(found))

    def _reap(self, labels: list[str]) -> list[str]:
        found = []
        for container in self.client.containers.list(
                all=True, filters={"label": [f"{LABEL_HOME}={self.home}", *labels]}):
            with contextlib.suppress(Exception):
                container.remove(force=True)
            found.append(container.labels.get(LABEL_DYNO_ID, ""))
        return sorted(set(found) - {""})

    def _remove_networks_at_exit(self) -> None:
        with contextlib.suppress(Exception):  # the engine went first: the next start reaps them
            self._remove_networks()

    def _remove_networks(self) -> None:
        """The apps' networks; the add-ons network stays, with the address add-on servers listen on."""
        for network in self.client.networks.list(filters={"label": f"{LABEL_HOME}={self.home}"}):
            if (network.attrs.get("Labels") or {}).get(LABEL_ROLE) == ROLE_ADDONS:
                continue
            with contextlib.suppress(Exception):
                network.remove()


def is_local_address(address: str) -> bool:
    """Whether `address` is one of this machine's (a socket can be bound to it)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True


def _owned_by_dyno_user(slug_path: Path) -> IO[bytes]:
    """The slug as a tar whose files belong to the stack's dyno user, so the app can write its own files.
    The engine keeps a tar's owners as they are (its copyUIDGID looks the user up on the host, not in the
    image: no use here), so the owners are rewritten on the way in."""
    owned = tempfile.SpooledTemporaryFile(max_size=SLUG_SPOOL)  # noqa: SIM115 - returned, closed by the caller
    with tarfile.open(slug_path, "r:gz") as slug, tarfile.open(fileobj=owned, mode="w") as out:
        for member in slug:
            member.uid = member.gid = stack.DYNO_UID
            member.uname = member.gname = ""
            out.addfile(member, slug.extractfile(member) if member.isreg() else None)
    owned.seek(0)
    return owned


def _set_result(future: asyncio.Future[int], status: int) -> None:
    if not future.done():
        future.set_result(status)


def _raw_socket(attached: Any) -> Any:
    return getattr(attached, "_sock", attached)


def _cgroup_dir(container_id: str) -> Path | None:
    """The container's memory cgroup directory, for cgroup v1 and v2, cgroupfs and systemd drivers."""
    for candidate in (f"/sys/fs/cgroup/memory/docker/{container_id}",
                      f"/sys/fs/cgroup/memory/system.slice/docker-{container_id}.scope",
                      f"/sys/fs/cgroup/docker/{container_id}",
                      f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope"):
        if Path(candidate).is_dir():
            return Path(candidate)
    return None


def _cgroup_memory_mb(cgroup: Path) -> float | None:
    """Usage minus inactive file cache, as the docker CLI counts it (v1 names, then v2)."""
    try:
        if (v1 := cgroup / "memory.usage_in_bytes").exists():
            usage, inactive_key = int(v1.read_text()), "total_inactive_file"
        else:
            usage, inactive_key = int((cgroup / "memory.current").read_text()), "inactive_file"
        stat = dict(line.split() for line in (cgroup / "memory.stat").read_text().splitlines() if " " in line)
    except (OSError, ValueError):
        return None  # the container is gone
    return max(usage - int(stat.get(inactive_key, 0)), 0) / 2**20


def _listens(table: str, port: int) -> bool:
    """Whether a /proc/net/tcp table has a socket listening on `port`."""
    wanted = f"{port:04X}"
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == TCP_LISTEN and fields[1].rsplit(":", 1)[-1] == wanted:
            return True
    return False
