"""stack: the heroku-24 stack image — a Debian root built offline with debootstrap and imported into Docker.

The recipe (suite, packages, the steps below) is hashed into the image tag, so an image is built once
and reused until the recipe changes. Everything here blocks: call it from a thread or the CLI.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
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
PACKAGES = ("bash", "coreutils", "python3", "python-is-python3", "python3-venv", "python3-pip", "ca-certificates",
            "procps")
# Trimmed from the root after the install: docs and apt's downloads are dead weight in every dyno.
TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt/archives",
        "var/lib/apt/lists")
IMAGE_CHANGES = (
    "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin",
    "ENV LANG=C.UTF-8",
    "ENV HOME=/app",
    "WORKDIR /app",
    f"LABEL {LABEL}={STACK}",
)
RECIPE_VERSION = 1  # bump when the steps change in a way the fields below do not show
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
    """Everything that decides what the image holds. The mirror's address does not: any mirror of the
    same suite gives the same root."""
    return {"stack": STACK, "suite": mirror.suite, "variant": "minbase", "packages": sorted(PACKAGES),
            "trim": sorted(TRIM), "changes": list(IMAGE_CHANGES), "version": RECIPE_VERSION}


def image_tag(mirror: Mirror) -> str:
    digest = hashlib.sha256(json.dumps(recipe(mirror), sort_keys=True).encode()).hexdigest()[:12]
    return f"{IMAGE_REPOSITORY}:{STACK}-{digest}"


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
    if not rebuild and find_image(client, tag) is not None:
        return tag
    with _machine_lock():
        # another herokusim (a parallel test run) may have built it while we waited
        if not rebuild and find_image(client, tag) is not None:
            return tag
        _build(client, mirror, tag, progress)
    return tag


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    with open(LOCK_PATH, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(client: Any, mirror: Mirror, tag: str, progress: Progress) -> None:
    debootstrap = shutil.which("debootstrap") or next(
        (p for p in ("/usr/sbin/debootstrap", "/sbin/debootstrap") if os.path.exists(p)), None)
    if debootstrap is None:
        raise StackError("debootstrap is not installed: `apt-get install debootstrap`, then try again")
    if os.geteuid() != 0:
        raise StackError("building the stack image runs debootstrap, which needs root: run "
                         "`sudo herokusim stack:build` once, or use `herokusim up --runtime process`")
    started = time.monotonic()
    progress(f"-----> Building the {STACK} stack image {tag}")
    progress(f"       Debian {mirror.suite} from {mirror.uri} (debootstrap --variant=minbase)")
    with tempfile.TemporaryDirectory(prefix="herokusim-stack-", dir=_scratch_dir()) as tmp:
        root = Path(tmp) / "rootfs"
        argv = [debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}", "--components=main",
                mirror.suite, str(root), mirror.uri]
        _run_debootstrap(argv, progress)
        for trimmed in TRIM:
            target = root / trimmed
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True, exist_ok=True)
        (root / "app").mkdir(exist_ok=True)
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


def _scratch_dir() -> str | None:
    # /var/tmp is on disk where /tmp may be a small tmpfs; a Debian root is a few hundred MB
    return "/var/tmp" if os.path.isdir("/var/tmp") else None


def _run_debootstrap(argv: list[str], progress: Progress) -> None:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        tail = [*tail[-20:], line]
        # debootstrap says I: for each step; show the steps, not every package it unpacks
        if line.startswith("I: ") and not line.startswith(("I: Unpacking ", "I: Configuring ", "I: Retrieving ",
                                                           "I: Extracting ", "I: Validating ")):
            progress(f"       {line[3:]}")
    if proc.wait() != 0:
        reason = next((line for line in reversed(tail) if line.startswith("E: ")), tail[-1] if tail else "")
        raise StackError(f"debootstrap failed ({reason.removeprefix('E: ') or f'exit {proc.returncode}'}); "
                         "check the machine's apt sources and network, then `herokusim stack:build`")
