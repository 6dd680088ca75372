"""CLI room: the app's git remotes and credential helper in the current checkout, through `git` itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REMOTE_NAMES = ("herokusim", "heroku")  # looked up in this order when no -a is given
DEFAULT_REMOTE = "herokusim"
_APP_URL = re.compile(r"[/:]([^/:]+)\.git/?\Z")
_REMOTE_URL_KEY = re.compile(r"remote\.(?P<name>.+)\.url")


class GitError(Exception):
    """A git operation the CLI needed failed; the message is one line for the user."""


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed (no `git` on PATH).") from None


def _git_ok(*args: str, cwd: Path | None = None) -> str:
    result = _git(*args, cwd=cwd)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise GitError(f"git {' '.join(args)}: {detail}")
    return result.stdout


def inside_checkout(cwd: Path | None = None) -> bool:
    try:
        result = _git("rev-parse", "--is-inside-work-tree", cwd=cwd)
    except GitError:
        return False
    return result.returncode == 0 and result.stdout.strip() == "true"


def require_checkout(cwd: Path | None = None) -> None:
    if not inside_checkout(cwd):
        raise GitError("Not a git repository: run this inside a git checkout (or `git init` one first).")


def app_from_url(url: str) -> str | None:
    """`http://127.0.0.1:5002/demo.git` (or any URL ending `/demo.git`) -> `demo`."""
    match = _APP_URL.search(url.strip())
    return match.group(1) if match else None


def remotes(cwd: Path | None = None) -> dict[str, str]:
    """Remote name -> URL of the checkout at cwd; empty outside a checkout."""
    try:
        result = _git("config", "--get-regexp", r"^remote\..*\.url$", cwd=cwd)
    except GitError:
        return {}
    found: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, _, url = line.partition(" ")
        match = _REMOTE_URL_KEY.fullmatch(key)
        if match:
            found.setdefault(match["name"], url)
    return found


def app_from_remotes(cwd: Path | None = None) -> str | None:
    """The app named by the `herokusim` remote, else by the `heroku` remote."""
    known = remotes(cwd)
    for name in REMOTE_NAMES:
        if name in known and (app := app_from_url(known[name])):
            return app
    return None


def set_remote(name: str, url: str, cwd: Path | None = None) -> None:
    if name in remotes(cwd):
        _git_ok("remote", "set-url", name, url, cwd=cwd)
    else:
        _git_ok("remote", "add", name, url, cwd=cwd)


def remove_remotes_to(urls: set[str], cwd: Path | None = None) -> list[str]:
    """Remove every remote whose URL is one of urls; returns their names."""
    gone = [name for name, url in remotes(cwd).items() if url in urls]
    for name in gone:
        _git_ok("remote", "remove", name, cwd=cwd)
    return gone


def retarget_remotes(old_urls: set[str], new_url: str, cwd: Path | None = None) -> list[str]:
    """Point every remote whose URL is one of old_urls at new_url (apps:rename); returns their names."""
    moved = [name for name, url in remotes(cwd).items() if url in old_urls]
    for name in moved:
        _git_ok("remote", "set-url", name, new_url, cwd=cwd)
    return moved


def credential_helper() -> str:
    """The command git runs (`... get`) to fetch the token, so no token lands in a URL or .git/config."""
    return f'!"{sys.executable}" -m herokusim git:credentials'


def configure_credentials(git_base_url: str, cwd: Path | None = None) -> None:
    """Point git at our credential helper for the herokusim git server, in the checkout's own config only.

    The empty helper first clears helpers from the user's global config for this URL, so a global
    `store` or keychain helper never saves the token.
    """
    section = f"credential.{git_base_url}"
    _git("config", "--local", "--unset-all", f"{section}.helper", cwd=cwd)
    _git_ok("config", "--local", "--add", f"{section}.helper", "", cwd=cwd)
    _git_ok("config", "--local", "--add", f"{section}.helper", credential_helper(), cwd=cwd)
    _git_ok("config", "--local", f"{section}.useHttpPath", "false", cwd=cwd)


def base_url(git_url: str) -> str:
    """`http://127.0.0.1:5002/demo.git` -> `http://127.0.0.1:5002`, the URL the credential helper serves."""
    return git_url.rstrip("/").rsplit("/", 1)[0]


def add_remote(name: str, git_url: str, cwd: Path | None = None) -> None:
    """Point remote `name` at an app's git URL, with the credential helper so a push needs no password."""
    set_remote(name, git_url, cwd=cwd)
    configure_credentials(base_url(git_url), cwd=cwd)
