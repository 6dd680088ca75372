"""local: `herokusim local` — the Procfile's processes on this machine, without the daemon, as `heroku local`
(node-foreman) runs them.

- `.env` (dotenv syntax, read with python-dotenv's parser: `KEY=value`, quotes, `export KEY=...`, comments; no
  `${VAR}` expansion, as node-foreman) is added to this shell's environment; a line it cannot read is an error
  naming the line.
- Which processes: every Procfile type but `release` (as `heroku local` since 2016), or a selection `web`,
  `web,worker`, `web=2,worker=1`.
- `PORT`: node-foreman's rule — the base port (`-p`, else `PORT` from the env file, else 5000) for the first
  type, +100 per type in the order they run, +1 per further instance of a type (web.1 5000, web.2 5001,
  worker.1 5100).
- Output: `hh:mm:ss web.1    | line`, the name padded to the longest, coloured per process on a terminal;
  herokusim's own lines come from `system`.
- Stopping: SIGTERM to each process group, SIGKILL after a grace (foreman's 5 s). Ctrl-C (SIGINT) or SIGTERM
  stops all and exits 0; a process that exits stops the others and its exit status is the command's.
- `--watch`: a change under the directory (ignoring .git, node_modules, __pycache__, ...) restarts every
  process; a process that exits then stops the others and waits for the next change (as nodemon does).

Pure of the daemon: nothing here imports a room; `cli/local_cmds.py` is the command over it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dotenv.parser import parse_stream

from herokusim.builds.procfile import PROCESS_TYPE, ProcfileError, parse_procfile

DEFAULT_PORT = 5000  # heroku local's (node-foreman's) base port
TYPE_PORT_STEP = 100  # node-foreman: each process type 100 ports above the one before it
DEFAULT_GRACE = 5.0  # foreman's default shutdown timeout before SIGKILL
MAX_INSTANCES = 100
IGNORED_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".mypy_cache",
                          ".pytest_cache", ".ruff_cache", ".tox"})
COLOURS = ("36", "33", "32", "35", "34", "31", "96", "93", "92", "95")  # ANSI: cyan, yellow, green, ...
_SELECTION = re.compile(r"(?P<type>[^=\s]+)(?:=(?P<count>[0-9]+))?")


class LocalError(Exception):
    """Bad input (no Procfile, an unknown type, an unreadable .env line): one line, exit 1."""


@dataclass(frozen=True)
class ProcessSpec:
    name: str  # web.1
    type: str
    command: str
    port: int


def read_env_file(path: Path, required: bool) -> dict[str, str]:
    """The file's variables in dotenv syntax; {} when it is absent and was not asked for by name."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise LocalError(f"env file {path} not found") from None
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalError(f"cannot read env file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.string.strip()
            raise LocalError(f"{path.name} line {binding.original.line} is not KEY=value: {line!r}")
        if binding.key is not None:
            values[binding.key] = binding.value or ""  # `KEY` alone: empty, as node-foreman
    return values


def read_procfile(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LocalError(f"no Procfile at {path}: write one (`web: python app.py`) or give -f FILE") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        types = parse_procfile(text)
    except ProcfileError as exc:
        raise LocalError(str(exc).replace("Procfile", path.name, 1)) from None
    if not types:
        raise LocalError(f"{path.name} declares no process types")
    return types


def parse_selection(selection: str | None, types: dict[str, str]) -> list[tuple[str, int]]:
    """`web`, `web,worker`, `web=2,worker=1` -> [(type, instances)]; none: every type but release."""
    if not selection:
        return [(t, 1) for t in types if t != "release"] or [(t, 1) for t in types]
    chosen: dict[str, int] = {}
    for part in selection.split(","):
        match = _SELECTION.fullmatch(part.strip())
        if match is None or not PROCESS_TYPE.fullmatch(match["type"]):
            raise LocalError(f"{part.strip()!r} is not a process type: give TYPE, TYPE,TYPE or TYPE=N")
        ptype = match["type"]
        if ptype not in types:
            raise LocalError(f"no {ptype!r} process type in the Procfile (it has {', '.join(types)})")
        count = int(match["count"] or 1)
        if not 0 <= count <= MAX_INSTANCES:
            raise LocalError(f"{ptype}={count}: give 0 to {MAX_INSTANCES} instances")
        chosen[ptype] = count
    if not any(chosen.values()):
        raise LocalError("nothing to run: every process type selected has 0 instances")
    return list(chosen.items())


def plan(types: dict[str, str], selection: list[tuple[str, int]], base_port: int) -> list[ProcessSpec]:
    specs = []
    for index, (ptype, count) in enumerate(selection):
        for number in range(1, count + 1):
            port = base_port + index * TYPE_PORT_STEP + number - 1
            specs.append(ProcessSpec(f"{ptype}.{number}", ptype, types[ptype], port))
    if specs and specs[-1].port > 65535:
        raise LocalError(f"port {specs[-1].port} for {specs[-1].name} is past 65535: give a lower -p")
    return specs


def ignored(path: str) -> bool:
    """Whether a changed path is one `--watch` ignores (VCS dirs, dependencies, caches, editor swap files)."""
    parts = Path(path).parts
    name = parts[-1] if parts else ""
    return (any(p in IGNORED_DIRS for p in parts) or name.endswith(("~", ".swp", ".swx", ".pyc"))
            or name.startswith(".#"))


class Output:
    """`hh:mm:ss web.1    | line`, one colour per process on a terminal."""

    def __init__(self, names: list[str], colour: bool, write: Callable[[str], None] | None = None) -> None:
        self.width = max(len(n) for n in [*names, "system"])
        self.colour = colour
        self.colours = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(names)}
        self._write = write or self._stdout

    @staticmethod
    def _stdout(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def line(self, name: str, text: str) -> None:
        prefix = f"{time.strftime('%H:%M:%S')} {name.ljust(self.width)} |"
        if self.colour:
            prefix = f"\x1b[{self.colours.get(name, '1')}m{prefix}\x1b[0m"
        with contextlib.suppress(OSError, ValueError):  # a closed stdout must not stop the stopping
            self._write(f"{prefix} {text}\n")

    def system(self, text: str) -> None:
        self.line("system", text)


class Runner:
    """Runs the processes until one exits or a signal comes; `run()` returns the exit status."""

    def __init__(self, specs: list[ProcessSpec], cwd: Path, env: dict[str, str], output: Output,
                 grace: float = DEFAULT_GRACE, watch: bool = False) -> None:
        self.specs = specs
        self.cwd = cwd
        self.env = env
        self.out = output
        self.grace = grace
        self.watch = watch
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._events: asyncio.Queue[tuple[str, object]] = asyncio.Queue()

    async def _start_all(self) -> None:
        for spec in self.specs:
            env = {**self.env, "PORT": str(spec.port), "PS": spec.name}
            try:
                proc = await asyncio.create_subprocess_exec(
                    "/bin/sh", "-c", spec.command, cwd=self.cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                self.out.system(f"{spec.name} could not start: {exc.strerror or exc}")
                self._events.put_nowait(("exit", (spec.name, 127)))
                continue
            self.procs[spec.name] = proc
            self.out.system(f"{spec.name} started with pid {proc.pid} (PORT={spec.port}): {spec.command}")
            self._readers.append(asyncio.create_task(self._follow(spec.name, proc)))

    async def _follow(self, name: str, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                raw = await proc.stdout.readline()
            except ValueError:  # a line past the stream's limit: take what is there
                raw = await proc.stdout.read(64 * 1024)
            if not raw:
                break
            self.out.line(name, raw.decode("utf-8", "replace").rstrip("\r\n"))
        code = await proc.wait()
        if self.procs.get(name) is proc:
            self._events.put_nowait(("exit", (name, code)))

    async def _stop_all(self) -> None:
        procs, self.procs = self.procs, {}
        running = {name: p for name, p in procs.items() if p.returncode is None}
        if running:
            self.out.system(f"sending SIGTERM to {', '.join(running)}")
        for proc in running.values():
            _signal_group(proc.pid, signal.SIGTERM)
        waits = [asyncio.create_task(p.wait()) for p in running.values()]
        if waits:
            _, late = await asyncio.wait(waits, timeout=self.grace)
            if late:
                stubborn = [name for name, p in running.items() if p.returncode is None]
                self.out.system(f"sending SIGKILL to {', '.join(stubborn)} (still running after {self.grace:g} s)")
            for proc in running.values():  # the whole group: children the shell left behind too
                _signal_group(proc.pid, signal.SIGKILL)
            await asyncio.gather(*waits)
        readers, self._readers = self._readers, []
        for reader in readers:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(reader, 2)  # the last lines of output

    async def _watch(self, stop: asyncio.Event) -> None:
        import watchfiles

        async for changes in watchfiles.awatch(self.cwd, watch_filter=lambda _, p: not ignored(p),
                                               stop_event=stop, recursive=True):
            paths = sorted({os.path.relpath(p, self.cwd) for _, p in changes})
            self._events.put_nowait(("change", paths))

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._events.put_nowait, ("signal", sig))
        stop_watch = asyncio.Event()
        watcher = asyncio.create_task(self._watch(stop_watch)) if self.watch else None
        status = 0
        try:
            await self._start_all()
            while True:
                kind, data = await self._events.get()
                if kind == "signal":
                    name = signal.Signals(data).name  # type: ignore[arg-type]
                    self.out.system(f"{name} received, stopping all processes")
                    status = 0
                    break
                if kind == "exit":
                    name, code = data  # type: ignore[misc]
                    if not self.procs and self.watch:
                        continue  # an exit while stopped for a restart
                    self.out.system(f"{name} {_describe_exit(code)}")
                    status = code if code >= 0 else 128 - code
                    if not self.watch:
                        break
                    await self._stop_all()
                    self.out.system("waiting for a file to change before starting again")
                    continue
                if kind == "change":
                    shown = ", ".join(data[:3]) + (f" and {len(data) - 3} more" if len(data) > 3 else "")  # type: ignore[index, arg-type]
                    self.out.system(f"change detected in {shown}: restarting")
                    await self._stop_all()
                    self._drain_exits()
                    await self._start_all()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            stop_watch.set()
            await self._stop_all()
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watcher
        return status

    def _drain_exits(self) -> None:
        """Exits queued by the processes just stopped: they are not news."""
        kept = []
        while not self._events.empty():
            event = self._events.get_nowait()
            if event[0] != "exit":
                kept.append(event)
        for event in kept:
            self._events.put_nowait(event)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"exited on signal {signal.Signals(-code).name}"
        except ValueError:
            return f"exited on signal {-code}"
    return f"exited with code {code}"


def run_local(cwd: Path, procfile: str, env_file: str | None, selection: str | None, port: int | None,
              watch: bool, colour: bool, grace: float = DEFAULT_GRACE) -> int:
    """The whole of `herokusim local`: read, plan, run. LocalError for bad input, before anything starts."""
    procfile_path = cwd / procfile
    types = read_procfile(procfile_path)
    file_env = read_env_file(cwd / (env_file or ".env"), required=env_file is not None)
    chosen = parse_selection(selection, types)
    if port is None:
        given = file_env.get("PORT") or ""
        port = int(given) if given.isdigit() and 0 < int(given) < 65536 else DEFAULT_PORT
    specs = plan(types, chosen, port)
    env = {**os.environ, **file_env}
    output = Output([s.name for s in specs], colour)
    return asyncio.run(Runner(specs, cwd, env, output, grace=grace, watch=watch).run())
