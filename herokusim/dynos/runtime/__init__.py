"""dynos/runtime: where a dyno actually runs. A backend only prepares, starts, signals, waits and
measures; every decision about states, log lines and restarts belongs to dynos/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class DynoSpec:
    dyno_id: str
    app_name: str
    name: str  # "web.1"
    command: str  # the Procfile command, run by bash after .profile.d
    env: dict[str, str]  # config vars + PORT + DYNO (+ HOME where the backend decides the slug root)
    slug_path: Path  # the slug tar.gz to start from, fresh every start
    port: int  # the $PORT the dyno is given, reachable by the router on 127.0.0.1


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


class Runtime(Protocol):
    name: str

    async def start(self, spec: DynoSpec) -> RunningDyno: ...

    async def reap_orphan(self, dyno_id: str, handle: str) -> bool:
        """Stop and remove a dyno left by a daemon that died; True if something was found."""
        ...


# bash sources the slug's .profile.d scripts in lexical order, then .profile, then runs the command,
# exactly as a dyno boots on Heroku.
BOOT_SCRIPT = (
    'for f in "$HOME"/.profile.d/*.sh; do [ -r "$f" ] && . "$f"; done; '
    'unset f; [ -r "$HOME/.profile" ] && . "$HOME/.profile"; '
)


def boot_command(command: str) -> list[str]:
    return ["bash", "-c", BOOT_SCRIPT + command]
