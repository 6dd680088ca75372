"""builds/source: the source tarball of a build made through the API (`POST /apps/{app}/builds` with a
`source_blob.url`) — which URLs herokusim takes, fetching one, and unpacking it safely into a build dir.

herokusim never reaches past loopback: a tarball comes from `http(s)://127.0.0.1|localhost|[::1]/...` or
from a local file (`file:///path/app.tgz`). Unpacking refuses what would land or link outside the build
dir (tarfile's `data` filter). As Heroku does, a tarball whose entries all sit in one top-level directory (a
GitHub archive: `repo-main/...`) is built from inside that directory.

Blocking code, for the build's thread, except check_source_url (cheap, for the API handler).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

import httpx

from herokusim.builds.compiler import SLUG_HARD_LIMIT, BuildError
from herokusim.builds.tarballs import Refused, TooLarge, Unreadable, copy_limited, extract, is_loopback_host
from herokusim.errors import InvalidParams

MAX_SOURCE_BYTES = SLUG_HARD_LIMIT  # the tarball as fetched
MAX_UNPACKED_BYTES = 4 * SLUG_HARD_LIMIT  # its files once unpacked: a small archive can hold a lot
FETCH_TIMEOUT = 60.0
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Source:
    url: str  # as the client gave it
    file: Path | None  # a file:// URL's path; None for http(s)


def check_source_url(url: object) -> Source:
    """What `source_blob.url` names, or a clear InvalidParams: loopback http(s), or a local regular file."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidParams('source_blob.url is required: {"source_blob": {"url": "file:///path/app.tgz"}} or '
                            "a tarball URL on 127.0.0.1.")
    parts = urlsplit(url.strip())
    if parts.scheme in ("http", "https"):
        if not is_loopback_host(parts.hostname):
            raise InvalidParams(f"source_blob.url {url!r} is not on this machine: herokusim fetches only from "
                                "loopback (http://127.0.0.1:PORT/..., http://localhost:PORT/...) or a file:// path.")
        return Source(url, None)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidParams(f"source_blob.url {url!r} names another host: use file:///path/to/app.tgz.")
        path = Path(unquote(parts.path))
        if not path.is_absolute():
            raise InvalidParams(f"source_blob.url {url!r} must hold an absolute path: file:///path/to/app.tgz.")
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise InvalidParams(f"Cannot read source_blob.url {url!r}: {exc.strerror or exc}.") from None
        if not stat.S_ISREG(mode):
            raise InvalidParams(f"source_blob.url {url!r} is not a regular file: give a tar.gz of the app.")
        return Source(url, path)
    raise InvalidParams(f"source_blob.url {url!r} is not supported: use http:// on loopback or file://.")


def _copy(chunks: Iterable[bytes], out: BinaryIO, url: str) -> None:
    try:
        copy_limited(chunks, out, MAX_SOURCE_BYTES)
    except TooLarge as exc:
        raise BuildError(f"{url} is {exc}") from None


def fetch_source(source: Source, dest: Path) -> None:
    """Copy or download the tarball to `dest`; BuildError with the reason if that fails."""
    if source.file is not None:
        try:
            # O_NONBLOCK: a FIFO put there since the API checked the path must not hang the build
            fd = os.open(source.file, os.O_RDONLY | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as src, dest.open("wb") as out:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise BuildError(f"{source.url} is not a regular file")
                _copy(iter(lambda: src.read(_CHUNK), b""), out, source.url)
        except OSError as exc:
            raise BuildError(f"Cannot read {source.url}: {exc.strerror or exc}") from None
        return
    try:
        # no redirects: one to another host would reach past loopback
        with httpx.stream("GET", source.url, timeout=FETCH_TIMEOUT, follow_redirects=False, trust_env=False) as reply:
            if reply.status_code != 200:
                raise BuildError(f"Fetching {source.url} answered HTTP {reply.status_code}, not 200")
            with dest.open("wb") as out:
                _copy(reply.iter_bytes(_CHUNK), out, source.url)
    except httpx.HTTPError as exc:
        raise BuildError(f"Cannot fetch {source.url}: {exc}") from None


def unpack_source(tarball: Path, dest: Path) -> Path:
    """Unpack into `dest` (made here); the directory to build: `dest`, or its one top-level directory."""
    dest.mkdir(parents=True)
    try:
        extract(tarball, dest, MAX_UNPACKED_BYTES)
    except TooLarge as exc:
        raise BuildError(f"The source tarball {exc}") from None
    except Refused as exc:  # an absolute path, `..`, a link out of the tree, a device
        raise BuildError(f"The source tarball is refused: {exc}") from None
    except Unreadable as exc:
        raise BuildError(f"The source is not a readable tarball: {exc}") from None
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    if not entries:
        raise BuildError("The source tarball is empty")
    return dest
