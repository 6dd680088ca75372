"""dynos/runtime/process: the embedded default backend — a dyno is a process group in a fresh slug copy."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

from herokusim.dynos.runtime import DynoSpec, boot_command

DYNO_ID_ENV = "HEROKUSIM_DYNO_ID"  # marks a dyno's processes so an orphan can be recognised as ours
READ_CHUNK = 65536


def _extract(slug_path: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(slug_path, "r:gz") as tar:
        tar.extractall(dest, filter="tar")


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


class ProcessDyno:
    def __init__(self, proc: asyncio.subprocess.Process, root: Path) -> None:
        self.proc = proc
        self.root = root
        self.handle = str(proc.pid)  # the process group id: the dyno is its session leader

    async def output(self) -> AsyncIterator[bytes]:
        assert self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(READ_CHUNK):
            yield chunk

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
        await asyncio.to_thread(shutil.rmtree, self.root, True)


class ProcessRuntime:
    name = "process"

    def __init__(self, dynos_dir: Path) -> None:
        self.dynos_dir = dynos_dir

    async def start(self, spec: DynoSpec) -> ProcessDyno:
        root = self.dynos_dir / spec.dyno_id
        await asyncio.to_thread(_extract, spec.slug_path, root)
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PS1": r"\[\033[01;34m\]\w\[\033[00m\] \[\033[01;32m\]$ \[\033[00m\]",
            **spec.env,
            "HOME": str(root),
            DYNO_ID_ENV: spec.dyno_id,
        }
        proc = await asyncio.create_subprocess_exec(
            *boot_command(spec.command),
            cwd=root,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        return ProcessDyno(proc, root)

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
