"""builds/pipconf: the machine's pip settings, for builds in a container — pip's config files and the daemon's
PIP_* variables as one set of PIP_* variables, and the local files they name, to mount read-only.

A build on the process runtime inherits all of this by running on the machine; a build container does not,
and pip in it fails where the machine reaches its package index only through these settings (an index URL,
find-links, a CA bundle to trust). Read again for every build, so a change on the machine counts at once.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

# pip's sections that apply to `pip install`, in the order pip lets them override each other
SECTIONS = ("global", "install")
# options whose values name local files or directories (among URLs): what a container must see too
PATH_OPTIONS = ("cert", "client-cert", "find-links", "index-url", "extra-index-url", "constraint")
CONFIG_FILE = "PIP_CONFIG_FILE"  # read here; the container gets its settings as variables, not the file


@dataclass(frozen=True)
class PipSettings:
    env: dict[str, str]  # PIP_* variables carrying every setting
    paths: tuple[Path, ...]  # the local files and directories they name, to mount at the same path


def config_files(environ: Mapping[str, str], home: Path, etc: Path = Path("/etc")) -> list[Path]:
    """pip's config files, later ones overriding earlier: global, user, then PIP_CONFIG_FILE (as pip 23 does;
    the `site` file is the daemon's own virtualenv's, not the machine's setting)."""
    named = environ.get(CONFIG_FILE)
    if named == os.devnull:  # pip's way to say: no config files at all
        return []
    xdg_dirs = [d for d in environ.get("XDG_CONFIG_DIRS", str(etc / "xdg")).split(":") if d]
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs] + [etc / "pip.conf"]
    if not (named and Path(named).exists()):  # pip skips the user's files when PIP_CONFIG_FILE exists
        xdg_home = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
        files += [home / ".pip" / "pip.conf", xdg_home / "pip" / "pip.conf"]
    if named:
        files.append(Path(named))
    return [f for f in files if f.is_file()]


def collect(environ: Mapping[str, str], home: Path, etc: Path = Path("/etc")) -> PipSettings:
    """The settings pip on this machine would use for `pip install`, as PIP_* variables, and their paths."""
    settings: dict[str, str] = {}
    parsers = [_read(f) for f in config_files(environ, home, etc)]
    for section in SECTIONS:
        for parser in parsers:
            if parser.has_section(section):
                for key, value in parser.items(section):
                    settings[_variable(key)] = value.strip()
    settings.update({k: v for k, v in environ.items() if k.startswith("PIP_")})
    settings.pop(CONFIG_FILE, None)
    paths: list[Path] = []
    for option in PATH_OPTIONS:
        for word in settings.get(_variable(option), "").split():
            path = _local_path(word)
            if path is not None and path.exists() and path not in paths:
                paths.append(path)
    return PipSettings(settings, tuple(paths))


def _read(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    try:
        parser.read(path)
    except (configparser.Error, UnicodeDecodeError, OSError):
        pass  # pip refuses such a file too; the build then says what pip says
    return parser


def _variable(option: str) -> str:
    """A config key as pip's environment variable: `find-links`, `find_links`, `--find-links` -> PIP_FIND_LINKS."""
    return "PIP_" + option.lower().lstrip("-").replace("-", "_").upper()


def _local_path(word: str) -> Path | None:
    """The absolute local path a value names (a path or a file:// URL); None for remote URLs and relative
    paths (relative to a directory the build does not share)."""
    if word.startswith("file:"):
        word = unquote(urlparse(word).path)
    elif "://" in word:
        return None
    return Path(word) if os.path.isabs(word) else None
