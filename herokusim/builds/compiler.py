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
from typing import IO, Any, Protocol

import yaml

from herokusim.builds.builtin import builtin_buildpacks_dir
from herokusim.builds.procfile import PROCESS_TYPE, ProcfileError, parse_procfile
from herokusim.builds.safefs import AppFileError, read_app_file
from herokusim.builds.slugignore import apply_slugignore
from herokusim.config import BUILD_TIMEOUT, STACK

BUILTIN_BUILDPACKS = builtin_buildpacks_dir()
# The built-in buildpacks an app with none set is tried against, in Heroku's order for its official ones
# (Ruby, Node.js, Clojure, Python, ...: Node.js before Python, so an app with a package.json is a Node.js
# app even when it also has a requirements.txt, as on Heroku). heroku/procfile is never detected: any app
# with a Procfile would match, so it runs only when set. One missing from buildpacks/ is skipped.
BUILTIN_ORDER = ("nodejs", "python")
# what makes each built-in take an app, for the hint when none does
_DETECTED_BY = {
    "nodejs": "a package.json (Node.js)",
    "python": "a requirements.txt, pyproject.toml or setup.py, or a Procfile whose command runs python (Python)",
}

# Heroku's limits (HEROKU.md §4); the build timeout is config.BUILD_TIMEOUT (HEROKUSIM_BUILD_TIMEOUT).
SLUG_SOFT_LIMIT = 300 * 1024 * 1024
SLUG_HARD_LIMIT = 500 * 1024 * 1024

# A script that exited may leave children still holding its output pipe: read them this long, then stop.
_DRAIN_GRACE = 1.0

# Runs bin/compile after sourcing the `export` files of the buildpacks before it ($5...).
_SOURCE_EXPORTS_THEN_COMPILE = (
    'c=$1 b=$2 k=$3 e=$4; shift 4; for f in "$@"; do . "$f"; done; exec "$c" "$b" "$k" "$e"'
)

Emit = Callable[[str], None]
# spawn(argv, cwd, stderr, env=None): `env`, the build's own variables (SOURCE_VERSION) on top of the host's
Spawn = Callable[..., "subprocess.Popen[bytes]"]


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


class BuildTimeout(BuildError):
    """The build ran past its time limit (HEROKUSIM_BUILD_TIMEOUT; Heroku's is 15 minutes)."""


class ReleaseYamlError(ValueError):
    """bin/release printed something that is not YAML, or not the mapping Heroku's Buildpack API describes."""


@dataclass(frozen=True)
class ReleaseInfo:
    """What a buildpack's bin/release printed (Heroku's Buildpack API: a YAML mapping)."""

    default_process_types: dict[str, str]
    addons: list[str]
    config_vars: dict[str, str]


@dataclass(frozen=True)
class BuildpackDir:
    """A buildpack resolved for this build (builds/resolve.py): its directory and how the app names it."""

    path: Path
    url: str  # as `buildpacks` lists it: heroku/python, or the URL or path the user gave


@dataclass(frozen=True)
class _Buildpack:
    source: Path
    name: str  # the framework bin/detect printed: `Python`
    ref: str  # how the app names it, as `buildpacks` lists it: `heroku/python`, or its URL or path


class _Deadline:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._end = time.monotonic() + timeout

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise BuildTimeout(f"Build timed out ({describe_seconds(self.timeout)})")
        return left


def describe_seconds(seconds: float) -> str:
    """A time limit as Heroku words it: `15 minutes`; a shortened one in seconds (`1.5 seconds`)."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"


def compile_slug(
    source_dir: Path,
    *,
    slug_path: Path,
    cache_dir: Path,
    config: dict[str, str],
    emit: Emit,
    buildpacks: list[BuildpackDir] | list[Path] | None = None,
    timeout: float = BUILD_TIMEOUT,
    host: BuildHost = LOCAL,
    source_version: str | None = None,
) -> SlugResult:
    """Build `source_dir` in place (it is BUILD_DIR) and write its slug to `slug_path`.

    `buildpacks`: the ones to run, in order (a bare Path is named by its path); None: detect a built-in one.
    `source_version`: what is being built (the pushed commit's sha, or a source blob's version), the scripts'
    SOURCE_VERSION as on Heroku."""
    deadline = _Deadline(timeout)
    build_env = {"SOURCE_VERSION": source_version} if source_version else {}
    build_dir = source_dir.resolve()
    emit(f"-----> Building on the {STACK.capitalize()} stack")  # Heroku's display name: Heroku-24
    try:
        apply_slugignore(build_dir)
    except AppFileError as e:
        raise BuildError(str(e)) from None
    cache_dir.mkdir(parents=True, exist_ok=True)
    explicit = None if buildpacks is None else [
        bp if isinstance(bp, BuildpackDir) else BuildpackDir(Path(bp), str(bp)) for bp in buildpacks]
    sources = [BUILTIN_BUILDPACKS] if explicit is None else [bp.path.resolve() for bp in explicit]
    # Next to the build dir, not in /tmp: a daemon killed mid-build leaves it where recovery looks.
    with tempfile.TemporaryDirectory(prefix="herokusim-build-", dir=build_dir.parent) as tmp, \
            host.session([build_dir, cache_dir.resolve(), Path(tmp)], readonly=sources, emit=emit) as host_spawn:
        spawn = _with_env(host_spawn, build_env)
        if explicit is None:
            chosen = [_detect_builtin(build_dir, deadline, emit, spawn)]
            _announce_buildpacks([bp.ref for bp in chosen], emit)
        else:  # as Heroku: what the app set first, then whether each takes the app
            _announce_buildpacks([bp.url for bp in explicit], emit)
            chosen = [_detect_explicit(bp, build_dir, deadline, emit, spawn) for bp in explicit]
        work = Path(tmp)
        # Each build gets private copies: bin/compile may write `export` next to itself.
        copies = [
            shutil.copytree(bp.source, work / f"buildpack-{i}", symlinks=True) for i, bp in enumerate(chosen)
        ]
        env_dir = _write_env_dir(config, work / "env")
        _compile_all(list(zip(chosen, copies)), build_dir, cache_dir.resolve(), env_dir, deadline, emit, spawn)
        defaults = _release_defaults(list(zip(chosen, copies)), build_dir, deadline, emit, spawn)
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
    candidates = [BUILTIN_BUILDPACKS / name for name in BUILTIN_ORDER]
    for source in (c for c in candidates if (c / "bin" / "detect").is_file()):
        name = _detect_name(source, build_dir, deadline, spawn)
        if name is not None:
            return _Buildpack(source, name, f"heroku/{source.name}")  # built-in: Heroku's official names
    emit(" !     No default language could be detected for this app.")
    emit("\t\t\tHINT: This occurs when herokusim cannot detect the buildpack to use for this application "
         "automatically.")
    files = [_DETECTED_BY[name] for name in BUILTIN_ORDER if name in _DETECTED_BY and (
        BUILTIN_BUILDPACKS / name / "bin" / "detect").is_file()]
    emit(f"\t\t\tSet one with `herokusim buildpacks:set heroku/python` (or any buildpack's URL), or add "
         f"{' or '.join(files)}.")
    raise BuildError("App not compatible with buildpack")


def _detect_explicit(bp: BuildpackDir, build_dir: Path, deadline: _Deadline, emit: Emit, spawn: Spawn
                     ) -> _Buildpack:
    source = bp.path.resolve()
    if not (source / "bin" / "detect").exists():
        # set on purpose, so it runs: its name is the last part of its URL (`heroku-buildpack-foo`)
        return _Buildpack(source, bp.url.split("#")[0].rstrip("/").rsplit("/", 1)[-1] or bp.url, bp.url)
    name = _detect_name(source, build_dir, deadline, spawn)
    if name is None:
        emit(f"-----> App not compatible with buildpack: {bp.url}")
        emit("       bin/detect exited non-zero for this app.")
        raise BuildError("App not compatible with buildpack")
    return _Buildpack(source, name, bp.url)


def _announce_buildpacks(urls: list[str], emit: Emit) -> None:
    """Heroku's lines, naming each buildpack as the app does (its URL, not where herokusim keeps it)."""
    if len(urls) == 1:
        emit(f"-----> Using buildpack: {urls[0]}")
        return
    emit("-----> Using buildpacks:")
    for number, url in enumerate(urls, 1):
        emit(f"       {number}. {url}")


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
        _require_script(copy, "bin/compile", emit, f"Failed to compile {bp.name} app")
        compile_args = [str(p) for p in (copy / "bin" / "compile", build_dir, cache_dir, env_dir)]
        argv = ["bash", "-c", _SOURCE_EXPORTS_THEN_COMPILE, "compile", *compile_args, *exports]
        try:
            status = _stream(argv, build_dir, deadline, emit, spawn)
        except BuildTimeout:  # Heroku's words for it
            raise BuildError(f"Timed out compiling {bp.name} app ({describe_seconds(deadline.timeout)})") from None
        if status != 0:
            raise BuildError(f"Failed to compile {bp.name} app")
        if (copy / "export").is_file():
            exports.append(str(copy / "export"))


def _release_defaults(
    buildpacks: list[tuple[_Buildpack, Path]], build_dir: Path, deadline: _Deadline, emit: Emit, spawn: Spawn
) -> dict[str, str]:
    """default_process_types of every bin/release, the last buildpack's winning; what herokusim does not apply
    (addons, config_vars) is said, naming it."""
    defaults: dict[str, str] = {}
    for bp, copy in buildpacks:
        release = copy / "bin" / "release"
        if not release.exists():
            continue  # optional in Heroku's Buildpack API
        _require_script(copy, "bin/release", emit, f"The {bp.name} buildpack's bin/release cannot run")
        status, out = _capture([str(release), str(build_dir)], build_dir, deadline, spawn)
        if status != 0:
            raise BuildError(f"The {bp.name} buildpack's bin/release failed (exit status {status})")
        try:
            info = parse_release(out)
        except ReleaseYamlError as e:
            raise BuildError(f"The {bp.name} buildpack's bin/release printed invalid YAML: {e}") from None
        defaults.update(info.default_process_types)
        if info.addons:
            # Heroku provisioned these on an app's first deploy (a legacy key); herokusim leaves it to the user
            emit(f" !     Add-ons not provisioned: herokusim does not create the add-ons a buildpack asks for. "
                 f"The {bp.name} buildpack's bin/release asks for: {', '.join(info.addons)}; create them with "
                 f"`herokusim addons:create {info.addons[0]}`")
        if info.config_vars:
            # Heroku's Buildpack API no longer has the key (bin/release returns addons and
            # default_process_types); its "Default config values" are .profile.d scripts
            emit(f" !     Ignored config_vars from the {bp.name} buildpack's bin/release (not part of Heroku's "
                 f"Buildpack API): {', '.join(sorted(info.config_vars))}")
            emit("       A buildpack sets default config in a .profile.d/*.sh script it writes: "
                 "export NAME=${NAME:-value}")
    return defaults


def parse_release(release_yaml: str) -> ReleaseInfo:
    """bin/release's YAML (any style: flow `{web: python app.py}`, quoted, `|` blocks); ReleaseYamlError saying
    what is wrong when it is not YAML or not the mapping Heroku's Buildpack API describes."""
    try:
        data: Any = yaml.safe_load(release_yaml)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ReleaseYamlError(f"{problem}{where}") from None
    if data is None:
        return ReleaseInfo({}, [], {})
    if not isinstance(data, dict):
        raise ReleaseYamlError(f"expected a mapping with default_process_types, got {_yaml_kind(data)}")
    types = data.get("default_process_types") or {}
    if not isinstance(types, dict):
        raise ReleaseYamlError(f"default_process_types must be a mapping of process type to command, got "
                         f"{_yaml_kind(types)}")
    default_process_types: dict[str, str] = {}
    for name, command in types.items():
        if not isinstance(name, str) or not PROCESS_TYPE.fullmatch(name):
            raise ReleaseYamlError(f"default_process_types: {name!r} is not a process type name")
        if command is None or isinstance(command, (dict, list)) or not str(command).strip():
            raise ReleaseYamlError(f"default_process_types: {name} must be a command (a string)")
        default_process_types[name] = str(command).strip()
    addons = data.get("addons") or []
    if isinstance(addons, str):
        addons = [addons]
    if not isinstance(addons, list) or not all(isinstance(a, str) for a in addons):
        raise ReleaseYamlError(f"addons must be a list of add-on names, got {_yaml_kind(addons)}")
    config_vars = data.get("config_vars") or {}
    if not isinstance(config_vars, dict):
        raise ReleaseYamlError(f"config_vars must be a mapping of name to value, got {_yaml_kind(config_vars)}")
    return ReleaseInfo(default_process_types, list(addons),
                       {str(k): "" if v is None else str(v) for k, v in config_vars.items()})


def _yaml_kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"[:80]


def parse_default_process_types(release_yaml: str) -> dict[str, str]:
    """`default_process_types` of bin/release output (ReleaseYamlError when it is not valid YAML of that shape)."""
    return parse_release(release_yaml).default_process_types


def _require_script(buildpack: Path, script: str, emit: Emit, failure: str) -> None:
    """Heroku runs a buildpack's scripts as programs: one that is missing or not executable fails the build,
    saying so (as the shell would: `bin/compile: Permission denied`), rather than running it another way."""
    path = buildpack / script
    if not path.is_file():
        emit(f" !     {script}: No such file")
        raise BuildError(failure)
    if not os.access(path, os.X_OK):
        emit(f" !     {script}: Permission denied (the buildpack's {script} is not executable)")
        emit(f"       Make it executable in the buildpack's repository: git update-index --chmod=+x {script}")
        raise BuildError(failure)


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


def _build_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # Config vars stay out of the environment: buildpacks read them from ENV_DIR.
    return {**os.environ, **(extra or {}), "STACK": STACK}


def _with_env(spawn: Spawn, env: dict[str, str]) -> Spawn:
    """`spawn`, giving every script the build's own variables (SOURCE_VERSION)."""
    if not env:
        return spawn

    def spawn_with_env(argv: list[str], cwd: Path, stderr: int,
                       env_: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        return spawn(argv, cwd, stderr, env={**env, **(env_ or {})})

    return spawn_with_env


def _spawn(argv: list[str], cwd: Path, stderr: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    try:
        # Its own session, so a timeout can kill the script together with everything it started.
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=_build_env(env),
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
    if not os.access(argv[0], os.X_OK):  # in a build container too, which would only say `exit status 126`
        raise BuildError(f"{argv[0]}: Permission denied (a buildpack's scripts must be executable: "
                         "git update-index --chmod=+x bin/detect bin/compile bin/release)")
    proc = spawn(argv, cwd, subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(timeout=deadline.remaining())
    except subprocess.TimeoutExpired:
        raise BuildTimeout(f"Build timed out ({describe_seconds(deadline.timeout)})") from None
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
        raise BuildTimeout(f"Build timed out ({describe_seconds(deadline.timeout)})") from None
    finally:
        _kill_group(proc)


def _pump(pipe: IO[bytes], lines: queue.Queue[str | None]) -> None:
    with pipe:
        for raw in pipe:
            lines.put(raw.decode(errors="replace").rstrip("\r\n"))
    lines.put(None)
