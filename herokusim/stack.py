"""stack: the heroku-24 stack image — a Debian root built offline with debootstrap and imported into Docker.

The recipe (suite, packages, the steps below) is hashed into the image tag, so an image is built once
and reused until the recipe changes. A daemon builds a missing image in the background (StackImage): it
answers meanwhile, and whatever needs the image waits for it, seeing the build's progress. Everything
else here blocks: call it from a thread or the CLI.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from herokusim.config import STACK

IMAGE_REPOSITORY = "herokusim/stack"
LABEL = "herokusim.stack"
# What the built-in buildpacks and the dynos they build need (HEROKU.md §4). bash, coreutils, sed, grep,
# tar and gzip come with every Debian root; they are named so the recipe says what the stack promises.
# nodejs and npm: the Node.js buildpack builds and runs with Debian's (trixie: Node.js 20, npm 9).
PACKAGES = ("bash", "coreutils", "python3", "python-is-python3", "python3-venv", "python3-pip", "ca-certificates",
            "procps", "nodejs", "npm")
# The Debian release the stack is, whatever the machine runs: trixie's python3 is 3.13, the Python buildpack's
# default (Heroku's too). Fetched from the machine's mirror, which serves every current release.
SUITE = "trixie"
# Installed with apt-get in the new root after debootstrap, not by debootstrap itself: its resolver ignores
# Provides:, and npm's dependencies in Debian need it.
APT_INSTALLED = ("nodejs", "npm")
# Trimmed from the root after the install: docs and apt's downloads are dead weight in every dyno.
TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt/archives",
        "var/lib/apt/lists")
IMAGE_CHANGES = (
    "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin",
    "ENV LANG=C.UTF-8",
    "ENV HOME=/app",
    "WORKDIR /app",
    f"LABEL {LABEL}={STACK}",
    # how a buildpack tells the stack image from the machine (the process runtime), to say which one lacks what
    f"ENV HEROKUSIM_STACK_IMAGE={STACK}",
)
# Dynos run as this unprivileged user, as Heroku's do; /app is its own, so a dyno can write its files.
DYNO_USER = "dyno"
DYNO_UID = 1000
# Where Debian's tools (its pip, curl, openssl) find the CAs they trust. Builds and dynos get the machine's
# bundle mounted here read-only rather than copied into the image: it follows the machine's changes without a
# rebuild, and the image stays what its recipe hash says (the same on every machine).
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
RECIPE_VERSION = 3  # bump when the steps change in a way the fields below do not show
# Test-only: mixed into the recipe's hash, so a test can have a tag no image has yet (a fresh build).
SALT_ENV = "HEROKUSIM_STACK_SALT"
DEBIAN_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
LOCK_PATH = Path(tempfile.gettempdir()) / "herokusim-stack.lock"  # one build per machine at a time

Progress = Callable[[str], None]


class StackError(Exception):
    """The stack image cannot be built or found; str(e) says what is missing and what to do."""


@dataclass(frozen=True)
class Mirror:
    uri: str
    suite: str


@dataclass(frozen=True)
class ImageInfo:
    tag: str
    size: int
    created: str


def read_mirror(paths: tuple[Path, ...] = DEBIAN_SOURCES) -> Mirror:
    """The machine's Debian mirror and suite, from its apt sources (one-line or deb822 format)."""
    entries: list[tuple[str, str]] = []
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".list", ".sources")))
        elif path.is_file():
            files.append(path)
    for file in files:
        text = file.read_text(errors="replace")
        entries.extend(_deb822_entries(text) if file.suffix == ".sources" else _one_line_entries(text))
    # the main archive, not security or updates: debootstrap wants the release itself
    for uri, suite in entries:
        if not re.search(r"-(security|updates|backports)$", suite) and "security" not in uri:
            return Mirror(uri.rstrip("/"), suite)
    raise StackError("no Debian mirror in the machine's apt sources (/etc/apt/sources.list, "
                     "/etc/apt/sources.list.d/): add a `deb` line for the Debian archive, then try again")


def _one_line_entries(text: str) -> list[tuple[str, str]]:
    found = []
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb" and words[1].startswith(("http://", "https://", "file:")):
            found.append((words[1], words[2]))
    return found


def _deb822_entries(text: str) -> list[tuple[str, str]]:
    found = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[0].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                found.append((uri, suite))
    return found


def recipe(mirror: Mirror) -> dict[str, Any]:
    """Everything that decides what the image holds. The mirror does not: any Debian mirror gives the same
    root of the stack's suite."""
    fields = {"stack": STACK, "suite": SUITE, "variant": "minbase", "packages": sorted(PACKAGES),
              "apt_installed": sorted(APT_INSTALLED),
              "trim": sorted(TRIM), "changes": list(IMAGE_CHANGES), "user": [DYNO_USER, DYNO_UID],
              "version": RECIPE_VERSION}
    if salt := os.environ.get(SALT_ENV, ""):
        fields["salt"] = salt
    return fields


def image_tag(mirror: Mirror) -> str:
    digest = hashlib.sha256(json.dumps(recipe(mirror), sort_keys=True).encode()).hexdigest()[:12]
    return f"{IMAGE_REPOSITORY}:{STACK}-{digest}"


def machine_ca_bundle() -> Path | None:
    """The CA bundle this machine's TLS clients trust (OpenSSL's default file, or SSL_CERT_FILE), if any."""
    cafile = ssl.get_default_verify_paths().cafile  # None when the file does not exist
    return Path(cafile).resolve() if cafile else None


def trust_mounts() -> list[Any]:
    """Docker mounts that make a container trust what the machine trusts."""
    import docker.types

    bundle = machine_ca_bundle()
    return [] if bundle is None else [docker.types.Mount(CA_BUNDLE, str(bundle), type="bind", read_only=True)]


# --- the engine -----------------------------------------------------------------------------------------------


def connect(timeout: float = 5.0) -> Any:
    """A Docker client whose engine answered a ping, or None when no engine answers."""
    import docker
    import requests

    try:
        client = docker.from_env(timeout=timeout, max_pool_size=64)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return None
    client.api.timeout = 300  # a hung engine fails the ping fast; real calls (an image import) take longer
    return client


def find_image(client: Any, tag: str) -> ImageInfo | None:
    import docker

    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    return ImageInfo(tag, int(image.attrs.get("Size") or 0), str(image.attrs.get("Created", "")))


def ensure_image(client: Any, progress: Progress, *, rebuild: bool = False) -> str:
    """The stack image's tag, building it first when this recipe has no image yet."""
    mirror = read_mirror()
    tag = image_tag(mirror)
    _ensure(client, mirror, tag, progress, rebuild=rebuild)
    return tag


def _ensure(client: Any, mirror: Mirror, tag: str, progress: Progress, *, rebuild: bool = False,
            cancel: threading.Event | None = None) -> None:
    if not rebuild and find_image(client, tag) is not None:
        return
    with machine_lock() as record:
        # another herokusim (a parallel test run) may have built it while we waited
        if not rebuild and find_image(client, tag) is not None:
            return

        def both(line: str) -> None:
            record(line)
            progress(line)

        build_image(client, mirror, tag, both, cancel)


class StackImage:
    """The stack image of a daemon's Docker runtime: its tag at once, the image itself once built.

    A missing image is built in a thread while the daemon answers. Whatever needs it waits: a build thread
    with wait() (it sees the build's progress lines, from the first), a dyno start on the loop by awaiting
    build(). A failed build is tried again by the next one that needs the image."""

    def __init__(self, client: Any, mirror: Mirror, tag: str, *, present: bool,
                 progress: Progress = lambda line: None) -> None:
        self.client = client
        self.mirror = mirror
        self.tag = tag
        self._progress = progress  # the daemon's own output
        self._changed = threading.Condition()
        self._lines: list[str] = []  # the current build's progress
        self._cancel = threading.Event()
        self._future: concurrent.futures.Future[str] | None = None
        if present:
            self._future = concurrent.futures.Future()
            self._future.set_result(tag)

    @classmethod
    def built(cls, client: Any, tag: str) -> StackImage:
        """An image that exists already (a test's or a benchmark's runtime)."""
        return cls(client, read_mirror(), tag, present=True)

    def build(self) -> concurrent.futures.Future[str]:
        """The image's future: done when it exists; starts a build when none runs and none succeeded."""
        with self._changed:
            future = self._future
            if future is None or (future.done() and future.exception() is not None):
                future = self._future = concurrent.futures.Future()
                self._lines = []
                # not a daemon thread: a stopped build still removes its scratch root before the process ends
                threading.Thread(target=self._build, args=(future, self._lines), name="stack image build").start()
            return future

    def wait(self, progress: Progress) -> str:
        """Blocking: the tag once the image exists, passing the build's progress lines on; StackError if the
        build fails."""
        future = self.build()
        if future.done():
            return future.result()
        with self._changed:
            lines = self._lines
        progress(f"-----> Waiting for the {STACK} stack image: it is built once, on the first start")
        seen = 0
        while True:
            with self._changed:
                self._changed.wait_for(lambda shown=seen: len(lines) > shown or future.done())
                fresh, seen = lines[seen:], len(lines)
            for line in fresh:
                progress(line)
            if future.done() and not fresh:
                return future.result()

    def state(self) -> tuple[str, str]:
        """("ready" | "building" | "failed", the last progress line or the failure)."""
        with self._changed:
            future, lines = self._future, self._lines
        if future is not None and future.done():
            error = future.exception()
            return ("failed", str(error)) if error is not None else ("ready", "")
        return "building", lines[-1].strip() if lines else "starting"

    def cancel(self) -> None:
        """Stop a running build (the daemon is stopping); the next start builds again."""
        self._cancel.set()

    def _build(self, future: concurrent.futures.Future[str], lines: list[str]) -> None:
        def line(text: str) -> None:
            self._progress(text)
            with self._changed:
                lines.append(text)
                self._changed.notify_all()

        error: StackError | None = None
        try:
            _ensure(self.client, self.mirror, self.tag, line, cancel=self._cancel)
        except Exception as exc:  # noqa: BLE001 - every failure is the build's failure, told to who waits
            error = exc if isinstance(exc, StackError) else StackError(f"the stack image build failed: {exc}")
            line(f" !     {error}")
        with self._changed:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(self.tag)
            self._changed.notify_all()


def build_blocker() -> str | None:
    """Why this machine cannot build the stack image, as `needs ...: what to do`; None when it can."""
    # root first: a user's PATH often lacks /usr/sbin, where debootstrap lives, so only root's search counts
    if os.geteuid() != 0:
        return "needs root to run debootstrap: run `sudo herokusim stack:build` once"
    # on PATH, not a fixed path: debootstrap itself runs chroot and friends from the sbin dirs of PATH
    if shutil.which("debootstrap") is None:
        return "needs debootstrap: apt-get install debootstrap"
    try:
        read_mirror()
    except StackError as exc:
        return f"needs {exc}"
    return None


def building() -> str | None:
    """The last progress line of a stack build running on this machine now (any process), else None. Only
    reads the lock file: it is often root's (`sudo herokusim stack:build`) while a user asks."""
    try:
        handle = open(LOCK_PATH)  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        return None  # no build has run here since the temp dir was emptied
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            lines = handle.read().splitlines()
            return lines[-1].strip() if lines else "starting"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


@contextlib.contextmanager
def machine_lock() -> Iterator[Progress]:
    """Held for a build; the lock file records the build's progress lines, for `herokusim stack` to show."""
    with open(LOCK_PATH, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.truncate(0)

        def record(line: str) -> None:
            handle.write(line + "\n")
            handle.flush()

        try:
            yield record
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_image(client: Any, mirror: Mirror, tag: str, progress: Progress, cancel: threading.Event | None = None
           ) -> None:
    if (blocker := build_blocker()) is not None:
        raise StackError(f"building the stack image {blocker}")
    debootstrap = shutil.which("debootstrap")
    assert debootstrap is not None  # build_blocker() found it
    started = time.monotonic()
    progress(f"-----> Building the {STACK} stack image {tag}")
    progress(f"       Debian {SUITE} from {mirror.uri} (debootstrap --variant=minbase)")
    with tempfile.TemporaryDirectory(prefix="herokusim-stack-", dir=_scratch_dir()) as tmp:
        root = Path(tmp) / "rootfs"
        base = [p for p in PACKAGES if p not in APT_INSTALLED]
        argv = [debootstrap, "--variant=minbase", f"--include={','.join(base)}", "--components=main",
                SUITE, str(root), mirror.uri]
        _run_debootstrap(argv, progress, cancel or threading.Event())
        _apt_install(root, [p for p in PACKAGES if p in APT_INSTALLED], progress, cancel or threading.Event())
        for trimmed in TRIM:
            target = root / trimmed
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True, exist_ok=True)
        _add_dyno_user(root)
        progress("-----> Importing the root into Docker")
        archive = Path(tmp) / "rootfs.tar"
        packed = subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(archive), "."],
                                capture_output=True, text=True, check=False)
        if packed.returncode != 0:
            raise StackError(f"cannot pack the stack root: {packed.stderr.strip()[-300:]}")
        repository, _, version = tag.partition(":")
        client.api.import_image(src=str(archive), repository=repository, tag=version,
                                changes=list(IMAGE_CHANGES))
    info = find_image(client, tag)
    if info is None:
        raise StackError(f"Docker did not keep the imported stack image {tag}")
    progress(f"       Done: {info.size / 2**20:.1f}M in {time.monotonic() - started:.0f}s")


def _add_dyno_user(root: Path) -> None:
    """The unprivileged user dynos run as, with /app (HOME) its own."""
    added = subprocess.run(["chroot", str(root), "useradd", "--uid", str(DYNO_UID), "--user-group",
                            "--home-dir", "/app", "--no-create-home", "--shell", "/bin/bash", DYNO_USER],
                           capture_output=True, text=True, check=False)
    if added.returncode != 0:
        raise StackError(f"cannot add the dyno user to the stack root: {added.stderr.strip()[-300:]}")
    (root / "app").mkdir(exist_ok=True)
    os.chown(root / "app", DYNO_UID, DYNO_UID)


def _scratch_dir() -> str | None:
    # /var/tmp is on disk where /tmp may be a small tmpfs; a Debian root is a few hundred MB
    return "/var/tmp" if os.path.isdir("/var/tmp") else None


def _apt_install(root: Path, packages: list[str], progress: Progress, cancel: threading.Event) -> None:
    """apt-get install in the root, from the mirror debootstrap wrote into its sources.list."""
    if not packages:
        return
    progress(f"       Installing {', '.join(packages)} with apt-get")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
    for argv in (["chroot", str(root), "apt-get", "update", "-q"],
                 ["chroot", str(root), "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
                 ["chroot", str(root), "apt-get", "clean"]):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                stdin=subprocess.DEVNULL, process_group=0)
        assert proc.stdout is not None
        threading.Thread(target=_stop_when, args=(cancel, proc), daemon=True).start()
        try:
            tail = proc.stdout.read().splitlines()[-20:]
        except BaseException:
            _stop(proc)
            raise
        if cancel.is_set():
            raise StackError("the stack image build was stopped: the next start builds it again")
        if proc.wait() != 0:
            reason = next((line for line in reversed(tail) if line.startswith("E: ")), tail[-1] if tail else "")
            raise StackError(f"apt-get in the stack root failed ({reason.removeprefix('E: ') or proc.returncode}); "
                             "check the machine's apt sources and network, then `herokusim stack:build`")


def _run_debootstrap(argv: list[str], progress: Progress, cancel: threading.Event) -> None:
    # its own process group: stopping it stops what it runs too (dpkg, the downloads)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, process_group=0)
    assert proc.stdout is not None
    threading.Thread(target=_stop_when, args=(cancel, proc), daemon=True).start()
    tail: list[str] = []
    try:
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-20:], line]
            # debootstrap says I: for each step; show the steps, not every package it unpacks
            if line.startswith("I: ") and not line.startswith(("I: Unpacking ", "I: Configuring ",
                                                               "I: Retrieving ", "I: Extracting ",
                                                               "I: Validating ")):
                progress(f"       {line[3:]}")
    except BaseException:  # Ctrl-C in `stack:build`: the group no longer gets the terminal's signal itself
        _stop(proc)
        raise
    if cancel.is_set():
        raise StackError("the stack image build was stopped: the next start builds it again")
    if proc.wait() != 0:
        reason = next((line for line in reversed(tail) if line.startswith("E: ")), tail[-1] if tail else "")
        raise StackError(f"debootstrap failed ({reason.removeprefix('E: ') or f'exit {proc.returncode}'}); "
                         "check the machine's apt sources and network, then `herokusim stack:build`")


def _stop_when(cancel: threading.Event, proc: subprocess.Popen[str]) -> None:
    while proc.poll() is None:
        if cancel.wait(0.5):
            _stop(proc)
            return


def _stop(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    proc.wait()
