"""builds/tarballs: what fetching and unpacking a tarball from a URL needs, shared by source builds
(builds/source.py: POST /apps/{app}/builds) and buildpack URLs (builds/resolve.py) — whether a host is this
machine, a size-capped copy, and an unpack that lands nothing outside its directory."""

from __future__ import annotations

import ipaddress
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO


class TooLarge(Exception):
    """More bytes than the cap allowed."""


class Refused(Exception):
    """A tarball that would land something outside its directory (an absolute path, `..`, a link out, a
    device): str(e) says which member."""


class Unreadable(Exception):
    """Not a tarball tarfile can read; str(e) says why."""


def is_loopback_host(host: str | None) -> bool:
    """`localhost` or a loopback address: the only hosts herokusim fetches from without asking."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def copy_limited(chunks: Iterable[bytes], out: BinaryIO, limit: int) -> None:
    """Write `chunks` to `out`; TooLarge as soon as they pass `limit` bytes."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"larger than {limit // 2**20} MB")
        out.write(chunk)


def extract(tarball: Path, dest: Path, max_unpacked: int) -> list[Path]:
    """Unpack into `dest` (which exists) with tarfile's `data` filter; the top-level entries. TooLarge when
    its regular files add up to more than `max_unpacked`, Refused or Unreadable as their names say."""
    try:
        with tarfile.open(tarball, "r:*") as tar:
            members = tar.getmembers()
            if sum(m.size for m in members if m.isreg()) > max_unpacked:
                raise TooLarge(f"unpacks to more than {max_unpacked // 2**20} MB")
            tar.extractall(dest, members=members, filter="data")
    except tarfile.FilterError as e:
        raise Refused(str(e)) from None
    except (tarfile.TarError, EOFError, OSError) as e:
        raise Unreadable(str(e)) from None
    return list(dest.iterdir())
