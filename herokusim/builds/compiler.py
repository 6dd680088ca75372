"""Slug compiler: runs buildpacks over a pushed commit's tree and packs the result into a slug tar.gz.

Blocking code, meant for a worker thread. Output goes line by line to `emit` as the buildpacks print it.
"""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from herokusim.builds.builtin import builtin_buildpacks_dir
from herokusim.builds.procfile import ProcfileError, parse_procfile
from herokusim.builds.safefs import AppFileError, read_app_file
from herokusim.builds.slugignore import apply_slugignore
from herokusim.config import STACK

BUILTIN_BUILDPACKS = builtin_buildpacks_dir()

# Heroku's limits (HEROKU.md §4).
BUILD_TIMEOUT = 15 * 60.0
SLUG_SOFT_LIMIT = 300 * 1024 * 1024
SLUG_HARD_LIMIT = 500 * 1024 * 1024

# A script that exited may leave children still holding its output pipe: read them this long, then stop.
_DRAIN_GRACE = 1.0

# Runs bin/compile after sourcing the `export` files of the buildpacks before it ($5...).
_SOURCE_EXPORTS_THEN_COMPILE = (
    'c=$1 b=$2 k=$3 e=$4; shift 4; for f in "$@"; do . "$f"; done; exec "$c" "$b" "$k" "$e"'
)

Emit = Callable[[str], None]
Spawn = Callable[[list[str], Path, int], "subprocess.Popen[bytes]"]


class BuildHost(Protocol):
    """Where buildpack scripts run: here as subprocesses, or in a build container (build/container.py)."""

    def session(self, paths: list[Path], readonly: list[Path], emit: Emit) -> AbstractContextManager[Spawn]:
        """For one build: a way to start scripts that see `paths` (writable) and `readonly` (the buildpacks:
        one build must not change another's) at the same place as here; `emit` for what getting there says."""
        ...


class LocalHost:
    @contextmanager
    def session(self, paths: list[Path], readonly: list[Path], emit: Emit) -> Iterator[Spawn]:
        yield _spawn


LOCAL = LocalHost()


@dataclass(frozen=True)
class SlugResult:
    path: Path
    checksum: str
    size: int
    process_types: dict[str, str]
    buildpack: str


class BuildError(Exception):
    """The build failed; str(e) is the one-line reason shown to the user."""


@dataclass(frozen=True)
class _Buildpack:
    source: Path
    name: str  # the framework bin/detect printed: `Python`
    ref: str  # how the app names it, as `buildpacks` lists it: `heroku/python`, or its URL or path


class _Deadline:
    def __init__(self, timeout: float) -> None:
        self._end = time.monotonic() + timeout

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise BuildError("Build timed out")
        return left


def compile_slug(
    source_dir: Path,
    *,
    slug_path: Path,
    cache_dir: Path,
    config: dict[str, str],
    emit: Emit,
    buildpacks: list[Path] | None = None,
    timeout: float = BUILD_TIMEOUT,
    host: BuildHost = LOCAL,
) -> SlugResult:
    """Build `source_dir` in place (it is BUILD_DIR) and write its slug to `slug_path`."""
    deadline = _Deadline(timeout)
    build_dir = source_dir.resolve()
    emit(f"-----> Building on the {STACK.capitalize()} stack")  # Heroku's display name: Heroku-24
    try:
        apply_slugignore(build_dir)
    except AppFileError as e:
        raise BuildError(str(e)) from None
    cache_dir.mkdir(parents=True, exist_ok=True)
    sources = [BUILTIN_BUILDPACKS] if buildpacks is None else [Path(bp).resolve() for bp in buildpacks]
    # Next to the build dir, not in /tmp: a daemon killed mid-build leaves it where recovery looks.
    with tempfile.TemporaryDirectory(prefix="herokusim-build-", dir=build_dir.parent) as tmp, \
            host.session([build_dir, cache_dir.resolve(), Path(tmp)], readonly=sources, emit=emit) as spawn:
        if buildpacks is None:
            chosen = [_detect_builtin(build_dir, deadline, emit, spawn)]
        else:
            chosen = [_detect_explicit(Path(bp), build_dir, deadline, emit, spawn) for bp in buildpacks]
        _announce_buildpacks(chosen, emit)
        work = Path(tmp)
        # Each build gets private copies: bin/compile may write `export` next to itself.
        copies = [
            shutil.copytree(bp.source, work / f"buildpack-{i}", symlinks=True) for i, bp in enumerate(chosen)
        ]
        env_dir = _write_env_dir(config, work / "env")
        _compile_all(list(zip(chosen, copies)), build_dir, cache_dir.resolve(), env_dir, deadline, emit, spawn)
        defaults = _release_defaults(list(zip(chosen, copies)), build_dir, deadline, spawn)
    process_types = _discover_process_types(build_dir, defaults, emit)
    checksum, size = _pack(build_dir, slug_path, deadline, emit)
    return SlugResult(
        path=slug_path,
        checksum=checksum,
        size=size,
        process_types=process_types,
        buildpack=chosen[-1].name,
    )


def _detect_builtin(build_dir: Path, deadline: _Deadline, emit: Emit, spawn: Spawn) -> _Buildpack:
    candidates = sorted(p for p in BUILTIN_BUILDPACKS.iterdir() if (p / "bin" / "detect").is_file())
    for source in candidates:
        name = _detect_name(source, build_dir, deadline, spawn)
        if name is not None:
            return _Buildpack(source, name, f"heroku/{source.name}")  # built-in: Heroku's official names
    emit(" !     No default language could be detected for this app.")
    emit("\t\t\tHINT: This occurs when herokusim cannot detect the buildpack to use for this application.")
    # Only a fix herokusim supports: it has no command or setting that picks another buildpack.
    emit("\t\t\tAdd a requirements.txt, pyproject.toml or setup.py (Python), or a Procfile whose command runs "
         "python; or a package.json (Node.js).")
    raise BuildError("App not compatible with buildpack")


def _detect_explicit(source: Path, build_dir: Path, deadline: _Deadline, emit: Emit, spawn: Spawn
                     ) -> _Buildpack:
    name = _detect_name(source, build_dir, deadline, spawn)
    if name is None:
        emit(f"-----> App not compatible with buildpack: {source}")
        emit("       bin/detect exited non-zero for this app.")
        raise BuildError("App not compatible with buildpack")
    return _Buildpack(source, name, str(source))


def _announce_buildpacks(chosen: list[_Buildpack], emit: Emit) -> None:
    if len(chosen) == 1:
        emit(f"-----> Using buildpack: {chosen[0].ref}")
        return
    emit("-----> Using buildpacks:")
    for number, bp in enumerate(chosen, 1):
        emit(f"       {number}. {bp.ref}")


def _detect_name(source: Path, build_dir: Path, deadline: _Deadline, spawn: Spawn) -> str | None:
    """The framework name bin/detect prints, or None when it declines the app."""
    status, out = _capture([str(source / "bin" / "detect"), str(build_dir)], build_dir, deadline, spawn)
    if status != 0:
        return None
    first = out.strip().splitlines()[:1]
    return first[0].strip() if first else source.name


def _write_env_dir(config: dict[str, str], env_dir: Path) -> Path:
    env_dir.mkdir()
    for name, value in config.items():
        if not name or "/" in name or name in (".", ".."):
            raise BuildError(f"Config var name {name!r} cannot be written to ENV_DIR; rename it")
        (env_dir / name).write_text(value)
    return env_dir


def _compile_all(
    buildpacks: list[tuple[_Buildpack, Path]],
    build_dir: Path,
    cache_dir: Path,
    env_dir: Path,
    deadline: _Deadline,
    emit: Emit,
    spawn: Spawn,
) -> None:
    exports: list[str] = []
    for bp, copy in buildpacks:
        emit(f"-----> {bp.name} app detected")
        compile_args = [str(p) for p in (copy / "bin" / "compile", build_dir, cache_dir, env_dir)]
        argv = ["bash", "-c", _SOURCE_EXPORTS_THEN_COMPILE, "compile", *compile_args, *exports]
        if _stream(argv, build_dir, deadline, emit, spawn) != 0:
            raise BuildError(f"Failed to compile {bp.name} app")
        if (copy / "export").is_file():
            exports.append(str(copy / "export"))


def _release_defaults(
    buildpacks: list[tuple[_Buildpack, Path]], build_dir: Path, deadline: _Deadline, spawn: Spawn
) -> dict[str, str]:
    """default_process_types of every bin/release, the last buildpack's winning."""
    defaults: dict[str, str] = {}
    for bp, copy in buildpacks:
        release = copy / "bin" / "release"
        if not release.exists():
            continue
        status, out = _capture([str(release), str(build_dir)], build_dir, deadline, spawn)
        if status != 0:
            raise BuildError(f"The {bp.name} buildpack's bin/release failed (exit status {status})")
        defaults.update(parse_default_process_types(out))
    return defaults


def parse_default_process_types(release_yaml: str) -> dict[str, str]:
    """`default_process_types` of bin/release output: the block mapping (or `{}`) buildpacks print."""
    types: dict[str, str] = {}
    inside = False
    for line in release_yaml.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped == "---":
            continue
        if not line[0].isspace():
            key, _, rest = line.partition(":")
            inside = key.strip() == "default_process_types" and not rest.strip()
        elif inside:
            name, colon, command = stripped.partition(":")
            if colon and command.strip():
                types[_unquote(name.strip())] = _unquote(command.strip())
    return types


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def _discover_process_types(build_dir: Path, defaults: dict[str, str], emit: Emit) -> dict[str, str]:
    emit("-----> Discovering process types")
    try:
        procfile = read_app_file(build_dir, "Procfile")
        declared = parse_procfile(procfile) if procfile is not None else {}
    except (AppFileError, ProcfileError) as e:
        raise BuildError(str(e)) from None
    extra = {name: command for name, command in defaults.items() if name not in declared}
    rows = []
    # alphabetical, as Heroku lists them, whatever the Procfile's order
    if declared or not extra:
        rows.append(("Procfile declares types", ", ".join(sorted(declared)) or "(none)"))
    if extra:
        rows.append(("Default types for buildpack", ", ".join(sorted(extra))))
    width = max(len(label) for label, _ in rows)
    for label, names in rows:
        emit(f"       {label.ljust(width)} -> {names}")
    return {**declared, **extra}


def _pack(build_dir: Path, slug_path: Path, deadline: _Deadline, emit: Emit) -> tuple[str, int]:
    """Write the build dir as a tar.gz (paths relative to its root, symlinks and modes kept)."""
    emit("-----> Compressing...")

    def member(info: tarfile.TarInfo) -> tarfile.TarInfo:
        deadline.remaining()
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    slug_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(slug_path, "w:gz", compresslevel=6) as tar:
            for entry in sorted(build_dir.iterdir()):
                tar.add(entry, arcname=entry.name, filter=member)
    except BaseException:
        slug_path.unlink(missing_ok=True)
        raise
    size = slug_path.stat().st_size
    if size > SLUG_HARD_LIMIT:
        slug_path.unlink()
        raise BuildError(
            f"Compiled slug size: {format_size(size)} is too large (max is {format_size(SLUG_HARD_LIMIT)})"
        )
    if size > SLUG_SOFT_LIMIT:
        emit(
            f" !     Warning: Your slug size ({size // 2**20} MB) exceeds our soft limit "
            f"({SLUG_SOFT_LIMIT // 2**20} MB) which may affect boot time."
        )
    emit(f"       Done: {format_size(size)}")
    with slug_path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return f"SHA256:{digest}", size


def format_size(size: int) -> str:
    """Heroku's slug size style: one decimal, K below a megabyte, else M."""
    if size < 2**20:
        return f"{size / 2**10:.1f}K"
    return f"{size / 2**20:.1f}M"


def _build_env() -> dict[str, str]:
    # Config vars stay out of the environment: buildpacks read them from ENV_DIR.
    return {**os.environ, "STACK": STACK}


def _spawn(argv: list[str], cwd: Path, stderr: int) -> subprocess.Popen[bytes]:
    try:
        # Its own session, so a timeout can kill the script together with everything it started.
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=_build_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
    except OSError as e:
        raise BuildError(f"Cannot run buildpack script {argv[0]}: {e.strerror}") from None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # Also after a normal exit: a build leaves no processes behind.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _capture(argv: list[str], cwd: Path, deadline: _Deadline, spawn: Spawn) -> tuple[int, str]:
    """Run a short script (detect, release): exit status and its stdout."""
    proc = spawn(argv, cwd, subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(timeout=deadline.remaining())
    except subprocess.TimeoutExpired:
        raise BuildError("Build timed out") from None
    finally:
        _kill_group(proc)
    return proc.returncode, out.decode(errors="replace")


def _stream(argv: list[str], cwd: Path, deadline: _Deadline, emit: Emit, spawn: Spawn) -> int:
    """Run a script, emitting each line of its stdout and stderr as it comes; returns its exit status."""
    proc = spawn(argv, cwd, subprocess.STDOUT)
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    exited_at: float | None = None
    try:
        while True:
            try:
                line = lines.get(timeout=min(deadline.remaining(), 0.2))
            except queue.Empty:
                if proc.poll() is None:
                    continue
                if exited_at is None:
                    exited_at = time.monotonic()
                if time.monotonic() - exited_at > _DRAIN_GRACE:
                    break
                continue
            if line is None:
                break
            emit(line)
        return proc.wait(timeout=deadline.remaining())
    except subprocess.TimeoutExpired:
        raise BuildError("Build timed out") from None
    finally:
        _kill_group(proc)


def _pump(pipe: IO[bytes], lines: queue.Queue[str | None]) -> None:
    with pipe:
        for raw in pipe:
            lines.put(raw.decode(errors="replace").rstrip("\r\n"))
    lines.put(None)
