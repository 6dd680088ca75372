"""builds/safefs: read a file of an app's tree without ever leaving the tree.

Every file herokusim itself reads from an app (Procfile, .slugignore, ...) is read here. A symlink is
followed only while it stays inside the app; one that leads out (an absolute target, or `..` past the
root, directly, through a chain, or through a symlinked parent directory) is refused, and nothing outside
is ever opened, not even to look.

Why a walk and not realpath + a containment check: on the Docker runtime the build dir is mounted into the
build container, and a process an app starts during its build can swap a checked file for a link before
the open that follows the check. So the path is walked one component at a time, each opened with
O_NOFOLLOW relative to the already-open directory above it; symlinks are read with readlink and resolved
here against those directories (`..` pops one), so whatever changes under the walk, only files inside the
root are opened.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import deque
from pathlib import Path

MAX_SYMLINKS = 40  # links followed in one lookup before it counts as a loop (Linux's own MAXSYMLINKS)

_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # NONBLOCK: a FIFO must not hang us


class AppFileError(ValueError):
    """An app file that leads outside the app or loops; str(e) is the one line shown to the user."""


def read_app_file(root: Path, name: str) -> str | None:
    """The text of `name` (`/`-separated, relative to root), or None if it is missing or not a regular file.

    Raises AppFileError if reaching it would leave root.
    """
    dirs = [os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]  # the open directories, root first
    try:
        fd = _walk(root, name, dirs)
    finally:
        for d in dirs:
            os.close(d)
    if fd is None:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read().decode(errors="replace")


def _walk(root: Path, name: str, dirs: list[int]) -> int | None:
    """An fd of `name` opened inside root (appending each directory passed to `dirs`), or None if missing."""
    pending = deque(name.split("/"))
    links = 0
    while pending:
        part = pending.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if len(dirs) == 1:
                raise _outside(name, os.path.join(root, "..", *pending))
            os.close(dirs.pop())
            continue
        try:
            fd = os.open(part, _FLAGS | (os.O_DIRECTORY if pending else 0), dir_fd=dirs[-1])
        except FileNotFoundError:
            return None
        except OSError as e:
            # ELOOP: a symlink (O_NOFOLLOW); ENOTDIR: a symlink or a file where a directory was expected
            if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            try:
                target = os.readlink(part, dir_fd=dirs[-1])
            except OSError:
                if e.errno == errno.ENOTDIR:
                    return None
                target = part  # it stopped being a link since the open: look again
            links += 1
            if links > MAX_SYMLINKS:
                raise AppFileError(f"{name}: too many levels of symbolic links: refusing to read it") from None
            if os.path.isabs(target):
                raise _outside(name, os.path.join(target, *pending)) from None
            pending.extendleft(reversed(target.split("/")))
            continue
        if not pending:
            return fd
        dirs.append(fd)
    return None  # the name ends at a directory (empty, `.`, or a trailing `..`)


def _outside(name: str, path: str) -> AppFileError:
    return AppFileError(
        f"{name} is a symlink to a path outside the app ({os.path.normpath(path)}): refusing to read it")
