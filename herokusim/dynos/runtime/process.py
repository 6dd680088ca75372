"""dynos/runtime/process: the embedded default backend — a dyno is a process group in a fresh slug copy.

Where the OS allows it (Linux with util-linux's `unshare`, as root or where unprivileged user namespaces are
allowed), each dyno also gets a private mount namespace in which its slug copy is `/app`, as on Heroku: the
dyno's own root is a small tmpfs holding a bind of every entry of the host's `/` plus `app`, so the host's `/`
is never written to, and each dyno sees its own `/app` (or, from the host, none). Elsewhere the dyno runs in
its directory under HEROKUSIM_HOME, HOME pointing there. The namespace shares the host's network and process
ids: the router, signals and memory samples reach the dyno's processes as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from herokusim.dynos.runtime.backend import DynoSpec, accepts, boot_command

DYNO_ID_ENV = "HEROKUSIM_DYNO_ID"  # marks a dyno's processes so an orphan can be recognised as ours
DYNOS_DIR_ENV = "HEROKUSIM_DYNOS_DIR"  # ... and as this HEROKUSIM_HOME's, not another daemon's
READ_CHUNK = 65536
APP_ROOT = "/app"  # where Heroku puts the slug, and where apps and books expect it
# Run inside the dyno's new mount namespace (`sh -c APP_ROOT_SETUP sh ROOT APP UID GID COMMAND...`): a tmpfs
# at ROOT gets a bind of each entry of the host's / (symlinks copied) and APP bound at /app, then COMMAND runs
# with ROOT as its root, in /app. Slave propagation: the host's later unmounts (a Docker container's layers,
# say) still reach the copies, so a dyno never pins them. The bind of the entry that holds ROOT brings a copy
# of ROOT itself along; it is unmounted so that the dyno's tree holds no loop. Not root, the setup runs as
# root of a user namespace (to mount), and UID:GID, the daemon's own, are mapped back for the command.
APP_ROOT_SETUP = r"""set -eu
root=$1 app=$2 uid=$3 gid=$4
shift 4
mount -t tmpfs -o mode=0755,size=1m herokusim-dyno "$root"
for path in /* /.[!.]* /..?*; do
  name=${path#/}
  if [ "$name" = app ]; then continue; fi
  if [ -L "$path" ]; then ln -s "$(readlink "$path")" "$root/$name"
  elif [ -d "$path" ]; then mkdir "$root/$name"; mount --rbind "$path" "$root/$name"
  elif [ -e "$path" ]; then : > "$root/$name"; mount --bind "$path" "$root/$name"
  fi
done
if [ -d "$root$root" ]; then umount --lazy "$root$root"; fi
mkdir "$root/app"
mount --bind "$app" "$root/app"
export PWD=/app  # or the shell in the dyno names its directory by the host's path it inherited
if [ -n "$uid" ]; then
  exec unshare --user --map-user="$uid" --map-group="$gid" --root "$root" --wd /app -- "$@"
fi
exec unshare --root "$root" --wd /app -- "$@"
"""


def extract_slug(slug_path: Path, dest: Path) -> None:
    """Unpack a slug into `dest`, made afresh, refusing any member that would land or write outside it."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(slug_path, "r:gz") as tar:
        tar.extractall(dest, filter=_slug_member)


def _unpack(slug_path: Path, dyno_dir: Path, private: bool) -> None:
    """A dyno's directory: `app`, a fresh copy of the slug, and with a namespace `root`, the empty mount point
    of the dyno's own /."""
    extract_slug(slug_path, dyno_dir / "app")
    if private:
        (dyno_dir / "root").mkdir()


def _slug_member(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """tarfile's `tar` filter (no member lands outside dest, none is written through a link), and no hard link
    to a file outside dest: a later member of that name would be written into the host's file. Symlinks
    may point anywhere, as in any slug: they are links the dyno itself follows, never herokusim."""
    member = tarfile.tar_filter(member, dest)
    if member.islnk():
        root = os.path.realpath(dest)
        target = os.path.realpath(os.path.join(root, member.linkname))
        if os.path.commonpath([root, target]) != root:
            raise tarfile.LinkOutsideDestinationError(member, target)
    return member


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


class MemorySampler:
    """Memory per dyno process group, from one walk of /proc shared by every dyno that asks within
    SAMPLE_TTL (each dyno is sampled every second: one walk per dyno would cost a core with 20 of them)."""

    SAMPLE_TTL = 0.5

    def __init__(self) -> None:
        self._taken = -1.0
        self._totals: dict[int, float] = {}
        self._lock = asyncio.Lock()

    async def memory_mb(self, pgid: int) -> float | None:
        async with self._lock:
            now = time.monotonic()
            if now - self._taken > self.SAMPLE_TTL:
                self._totals = await asyncio.to_thread(_group_memory_mb)
                self._taken = time.monotonic()
        return self._totals.get(pgid)


class ProcessDyno:
    def __init__(self, proc: asyncio.subprocess.Process, dyno_dir: Path, sampler: MemorySampler,
                 terminal: int | None = None, port: int = 0) -> None:
        self.proc = proc
        self.dyno_dir = dyno_dir
        self.sampler = sampler
        self.port = port
        self.terminal = terminal  # the pty master of an interactive one-off
        self.handle = str(proc.pid)  # the process group id: the dyno is its session leader

    async def output(self) -> AsyncIterator[bytes]:
        if self.terminal is not None:
            async for chunk in self._terminal_output(self.terminal):
                yield chunk
            return
        assert self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(READ_CHUNK):
            yield chunk

    async def _terminal_output(self, fd: int) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes] = asyncio.Queue()

        def readable() -> None:
            try:
                data = os.read(fd, READ_CHUNK)
            except OSError:  # EIO: every process holding the terminal has exited
                data = b""
            if not data:
                loop.remove_reader(fd)
            queue.put_nowait(data)

        loop.add_reader(fd, readable)
        try:
            while chunk := await queue.get():
                yield chunk
        finally:
            loop.remove_reader(fd)

    def write_input(self, data: bytes) -> None:
        if self.terminal is not None:
            with contextlib.suppress(OSError):
                os.write(self.terminal, data)
        elif self.proc.stdin is not None:
            self.proc.stdin.write(data)

    def close_input(self) -> None:
        if self.terminal is not None:
            self.write_input(b"\x04")  # ^D: end of input, as a terminal says it
        elif self.proc.stdin is not None:
            self.proc.stdin.close()

    async def memory_mb(self) -> float | None:
        return await self.sampler.memory_mb(self.proc.pid)

    async def listening(self) -> bool:
        return await accepts("127.0.0.1", self.port)

    def oom_killed(self) -> bool:
        return False  # no hard limit here: dynos/ kills at R15 from its own samples

    async def wait(self) -> int:
        return _exit_status(await self.proc.wait())

    def _signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def terminate(self) -> None:
        self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)

    async def cleanup(self) -> None:
        # children that outlived the dyno's main process must not keep writing into a removed dir
        self._signal_group(signal.SIGKILL)
        if self.terminal is not None:
            with contextlib.suppress(OSError):
                os.close(self.terminal)
            self.terminal = None
        await asyncio.to_thread(shutil.rmtree, self.dyno_dir, True)


def app_root_argv(root: Path, app: Path, command: list[str], uid: int, gid: int) -> list[str]:
    """`command`, run by user `uid`, in a new mount namespace where `app` is /app (`root`: an empty directory
    to build its / on)."""
    if uid == 0:
        namespaces, ids = ["--mount"], ["", ""]
    else:  # an unprivileged user namespace, where this user may mount
        namespaces, ids = ["--user", "--map-root-user", "--mount"], [str(uid), str(gid)]
    return ["unshare", *namespaces, "--propagation", "slave", "--", "sh", "-c", APP_ROOT_SETUP, "sh",
            str(root), str(app), *ids, *command]


def app_root_works(scratch: Path | None = None) -> bool:
    """Whether dynos can get their own /app here: Linux, an `unshare` that can do all APP_ROOT_SETUP does as
    this user (tried once on an empty slug, so a kernel, a container or a policy that refuses a step is found
    before a dyno is started). The daemon probes in a fixed `scratch` dir under its home, so a daemon killed
    mid-probe leaves nothing in TMPDIR and its successor's probe reclaims the dir."""
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    if scratch is None:
        with tempfile.TemporaryDirectory(prefix="herokusim-app-root-") as tmp:
            return app_root_works(Path(tmp) / "probe")
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        root, app = (scratch / "root").resolve(), (scratch / "app").resolve()
        root.mkdir(parents=True)
        app.mkdir()
        (app / "probe").touch()
        try:
            probe = app_root_argv(root, app, ["test", "-f", f"{APP_ROOT}/probe"], os.geteuid(), os.getegid())
            done = subprocess.run(probe, capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class ProcessRuntime:
    name = "process"

    def __init__(self, dynos_dir: Path) -> None:
        self.dynos_dir = dynos_dir
        self.real_dynos_dir = dynos_dir.resolve()  # the path a dyno's namespace finds its directory at
        self.memory = MemorySampler()
        self._app_root: bool | None = None  # whether dynos get their own /app: found at the first start
        self._app_root_lock = asyncio.Lock()

    async def app_root(self) -> bool:
        async with self._app_root_lock:
            if self._app_root is None:
                self._app_root = await asyncio.to_thread(app_root_works, self.dynos_dir.parent / "app-root-probe")
        return self._app_root

    async def start(self, spec: DynoSpec) -> ProcessDyno:
        dyno_dir = self.real_dynos_dir / spec.dyno_id
        app = dyno_dir / "app"
        private = await self.app_root()
        await asyncio.to_thread(_unpack, spec.slug_path, dyno_dir, private)
        command = boot_command(spec.command)
        if private:
            command = app_root_argv(dyno_dir / "root", app, command, os.geteuid(), os.getegid())
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PS1": r"\[\033[01;34m\]\w\[\033[00m\] \[\033[01;32m\]$ \[\033[00m\]",
            **spec.env,
            "HOME": APP_ROOT if private else str(app),
            DYNO_ID_ENV: spec.dyno_id,
            DYNOS_DIR_ENV: str(self.dynos_dir),
        }
        if spec.interactive:
            env.setdefault("TERM", os.environ.get("TERM", "xterm-256color"))
            master, slave = pty.openpty()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *command, cwd=app, env=env, stdin=slave, stdout=slave, stderr=slave,
                    start_new_session=True)
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            os.set_blocking(master, False)
            return ProcessDyno(proc, dyno_dir, self.memory, terminal=master, port=spec.port)
        proc = await asyncio.create_subprocess_exec(
            *command,
            cwd=app,
            env=env,
            stdin=asyncio.subprocess.PIPE if spec.stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        return ProcessDyno(proc, dyno_dir, self.memory, port=spec.port)

    async def reap_orphan(self, dyno_id: str, handle: str) -> bool:
        found = False
        if handle.isdigit() and _group_is_dyno(int(handle), dyno_id):
            try:
                os.killpg(int(handle), signal.SIGKILL)
                found = True
            except ProcessLookupError:
                pass
        root = self.dynos_dir / dyno_id
        if root.exists():
            await asyncio.to_thread(shutil.rmtree, root, True)
            found = True
        return found


    async def reap_strays(self) -> list[str]:
        return await asyncio.to_thread(self._reap_strays)

    def _reap_strays(self) -> list[str]:
        found: set[str] = set()
        mark = f"{DYNOS_DIR_ENV}={self.dynos_dir}".encode()
        for pid, environ in _process_environs():
            if mark not in environ:
                continue
            dyno_id = next((v.split(b"=", 1)[1].decode() for v in environ if v.startswith(DYNO_ID_ENV.encode())), "")
            with contextlib.suppress(OSError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            found.add(dyno_id)
        if self.dynos_dir.exists():
            for root in self.dynos_dir.iterdir():
                shutil.rmtree(root, ignore_errors=True)
                found.add(root.name)
        return sorted(found - {""})


def _process_environs() -> list[tuple[int, list[bytes]]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                found.append((int(entry.name), (entry / "environ").read_bytes().split(b"\0")))
    return found


def _group_memory_mb() -> dict[int, float]:
    """RSS plus swap in MB per process group, in one walk of /proc. A dyno is its own group, so its total
    covers its whole tree, daemonised children included, since they keep the group."""
    totals: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            pgid = os.getpgid(int(entry.name))
            if pgid == os.getpgrp():  # the daemon's own group: never a dyno
                continue
            status = (entry / "status").read_text()
        except (OSError, ProcessLookupError):
            continue
        kb = sum(int(line.split()[1]) for line in status.splitlines() if line.startswith(("VmRSS:", "VmSwap:")))
        totals[pgid] = totals.get(pgid, 0.0) + kb / 1024
    return totals


def _group_is_dyno(pgid: int, dyno_id: str) -> bool:
    """True if a live process of group `pgid` carries this dyno's id (pids get reused)."""
    marker = f"{DYNO_ID_ENV}={dyno_id}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                return True
        except (OSError, ProcessLookupError):
            continue
    return False
