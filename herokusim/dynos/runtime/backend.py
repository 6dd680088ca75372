"""dynos/runtime/backend: what every runtime backend offers — the DynoSpec it is given, the Runtime and
RunningDyno protocols it implements — and the dyno boot script both backends run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class DynoSpec:
    dyno_id: str
    app_id: str
    app_name: str
    name: str  # "web.1"
    command: str  # the Procfile command, run by bash after .profile.d
    env: dict[str, str]  # config vars + PORT + DYNO (+ HOME where the backend decides the slug root)
    slug_path: Path  # the slug tar.gz to start from, fresh every start
    port: int  # the $PORT the dyno is given, reachable by the router on 127.0.0.1
    release_version: int = 0
    # the R15 threshold (2 x quota, 1.2 x for the largest sizes); a backend that can enforce a hard limit does
    memory_limit_mb: int = 0
    interactive: bool = False  # an attached one-off: a terminal (TTY) with stdin, as `herokusim run` gives
    stdin: bool = False  # an attached one-off without a terminal (input piped in): stdin open as a pipe


class RunningDyno(Protocol):
    handle: str  # how to find this dyno again after a daemon crash

    def output(self) -> AsyncIterator[bytes]:
        """stdout and stderr, merged, in chunks as they arrive; ends when the dyno's output closes."""
        ...

    async def wait(self) -> int:
        """Exit status, as a shell reports it (128 + N for a signal)."""
        ...

    def terminate(self) -> None:
        """SIGTERM to every process of the dyno."""
        ...

    def kill(self) -> None:
        """SIGKILL to every process of the dyno."""
        ...

    async def cleanup(self) -> None:
        """Remove everything this start wrote: the slug copy and the dyno's files."""
        ...

    async def memory_mb(self) -> float | None:
        """Memory in use by every process of the dyno (RSS, plus swap where measurable), in MB;
        None when it cannot be measured right now."""
        ...

    def write_input(self, data: bytes) -> None:
        """Bytes for the dyno's terminal (interactive one-offs only)."""
        ...

    def close_input(self) -> None:
        """End of input for the dyno's terminal (interactive one-offs only)."""
        ...

    def oom_killed(self) -> bool:
        """After wait(): True when the kernel killed the dyno at its hard memory limit (memory_limit_mb), which
        dynos/ reports as R15 (the backend that enforces the limit kills before a sample can see it)."""
        ...

    async def listening(self) -> bool:
        """True once a process of the dyno accepts connections on its $PORT (a web dyno is then `up`).
        Not the same as 127.0.0.1:$PORT accepting: Docker's proxy accepts there from the container's start."""
        ...


class Runtime(Protocol):
    name: str

    async def start(self, spec: DynoSpec) -> RunningDyno: ...

    async def reap_orphan(self, dyno_id: str, handle: str) -> bool:
        """Stop and remove a dyno left by a daemon that died; True if something was found."""
        ...

    async def reap_strays(self) -> list[str]:
        """Stop and remove every dyno of this HEROKUSIM_HOME that is still running or left on disk
        (found by the marks the backend puts on its dynos, not by the store); returns their ids."""
        ...


# bash sources the slug's .profile.d scripts in lexical order, then .profile, then runs the command,
# exactly as a dyno boots on Heroku. The command gets a line of its own: bash quotes only the line at fault
# in a syntax error, so the user sees their command, not this script; and bash still execs the last command
# (no `eval`, which would keep a bash between the dyno and the app's process and take SIGTERM for it).
BOOT_SCRIPT = (
    'for f in "$HOME"/.profile.d/*.sh; do [ -r "$f" ] && . "$f"; done; '
    'unset f; [ -r "$HOME/.profile" ] && . "$HOME/.profile"\n'
)


async def accepts(host: str, port: int) -> bool:
    """Whether something accepts a TCP connection on host:port right now."""
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def boot_command(command: str) -> list[str]:
    return ["bash", "-c", BOOT_SCRIPT + command]
