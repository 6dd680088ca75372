""".slugignore: gitignore-style patterns for files removed from the build dir before buildpacks run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pathspec

from herokusim.builds.safefs import read_app_file

SLUGIGNORE = ".slugignore"


class SlugIgnore:
    """The patterns of one .slugignore. Heroku does not support `!` negation, so those lines are dropped."""

    def __init__(self, text: str) -> None:
        lines = [line for line in text.splitlines() if not line.lstrip().startswith("!")]
        self._spec = pathspec.GitIgnoreSpec.from_lines(lines)

    def matches(self, rel_path: str, *, is_dir: bool = False) -> bool:
        """Whether the path (relative to the build dir, `/`-separated) is ignored."""
        return self._spec.match_file(rel_path.strip("/") + ("/" if is_dir else ""))


def apply_slugignore(build_dir: Path) -> list[str]:
    """Delete what the build dir's .slugignore matches; returns the removed paths, relative, sorted.

    Raises AppFileError if .slugignore is a symlink that leads outside the build dir."""
    text = read_app_file(build_dir, SLUGIGNORE)
    if text is None:
        return []
    ignore = SlugIgnore(text)
    removed: list[str] = []
    for dirpath, dirnames, filenames in os.walk(build_dir):
        here = Path(dirpath)
        for name in list(dirnames):
            path = here / name
            rel = path.relative_to(build_dir).as_posix()
            # A symlink to a directory is removed as a link, never followed.
            if path.is_symlink():
                if ignore.matches(rel):
                    path.unlink()
                    removed.append(rel)
                dirnames.remove(name)
            elif ignore.matches(rel, is_dir=True):
                shutil.rmtree(path)
                removed.append(rel)
                dirnames.remove(name)
        for name in filenames:
            rel = (here / name).relative_to(build_dir).as_posix()
            if ignore.matches(rel):
                (here / name).unlink()
                removed.append(rel)
    return sorted(removed)
