"""labs/runner: a lab's life on the platform — start (checkout, apps, deploy), the student's push, the
solution applied, the check run. The CLI's labs:* commands, the TUI and the suite's proofs all go through
here, as clients of the daemon (the API and git), never its objects.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from herokusim.cli import gitremote
from herokusim.client import Client, app_path
from herokusim.config import Settings
from herokusim.labs.context import CheckContext
from herokusim.labs.lab import FIXTURES, CheckResult, Lab

Say = Callable[[str], None]
REMOTE = "herokusim"
GIT_TIMEOUT = 600.0  # a push builds the app: pip may fetch packages


class LabError(Exception):
    """A one-line reason a lab step cannot be done."""


@dataclass(frozen=True)
class LabState:
    """A started lab: its checkout and its apps by role (the first deploys from the checkout)."""

    lab: Lab
    checkout: Path
    apps: dict[str, str]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment git (and its credential helper, `herokusim git:credentials`) needs to reach this daemon."""
    return {**os.environ, "HEROKUSIM_HOME": str(settings.home), "HEROKUSIM_API_PORT": str(settings.api_port),
            "HEROKUSIM_GIT_PORT": str(settings.git_port), "HEROKUSIM_ROUTER_PORT": str(settings.router_port),
            "GIT_TERMINAL_PROMPT": "0"}


def git(settings: Settings, checkout: Path, *args: str) -> str:
    """`git ARGS` in the checkout, with what reaching this daemon needs; LabError with its last line."""
    done = subprocess.run(["git", *args], cwd=checkout, env=settings_env(settings), capture_output=True,
                          text=True, timeout=GIT_TIMEOUT, check=False)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        raise LabError(f"git {args[0]} failed: {said[-1]}")
    return done.stdout + done.stderr


def _commit(settings: Settings, checkout: Path, message: str) -> None:
    git(settings, checkout, "add", "-A")
    git(settings, checkout, "-c", "user.name=student", "-c", "user.email=student@herokusim.local",
         "commit", "-q", "-m", message)


def app_names(lab: Lab, suffix: str) -> dict[str, str]:
    """`lab3-h12-7f2c` for role `app`, `lab17-staging-7f2c` for role `staging`: unique per start."""
    return {role: f"lab{lab.number}-{role if role != 'app' else lab.slug.split('-')[0]}-{suffix}"[:30].rstrip("-")
            for role in lab.apps}


def start(lab: Lab, settings: Settings, dest: Path, say: Say = print) -> LabState:
    """Put the lab's flawed app into a new git checkout at `dest`, create its app(s), deploy."""
    if not lab.playable:
        raise LabError(f"Lab {lab.number} ({lab.title}) is not playable yet: it waits for {lab.waits_for}.")
    if dest.exists() and any(dest.iterdir()):
        raise LabError(f"{dest} exists and is not empty: choose another directory with --dir.")
    dest.mkdir(parents=True, exist_ok=True)
    git(settings, dest, "init", "-q", "-b", "main")
    if lab.earlier is not None:
        shutil.copytree(FIXTURES / lab.earlier, dest, dirs_exist_ok=True)
        _commit(settings, dest, f"Lab {lab.number}: {lab.title} (the version that worked)")
    shutil.copytree(lab.fixture_dir, dest, dirs_exist_ok=True)
    _commit(settings, dest, f"Lab {lab.number}: {lab.title}")
    apps = app_names(lab, secrets.token_hex(2))
    api = Client(settings)
    try:
        for name in apps.values():
            say(f"Creating {name}...")
            api.post("/apps", {"name": name})
            if lab.config:
                api.patch(app_path(name, "config-vars"), lab.config)
            for addon in lab.addons:
                say(f"Adding {addon} to {name}...")
                api.post(app_path(name, "addons"), {"plan": addon})
    finally:
        api.close()
    first = next(iter(apps.values()))
    gitremote.add_remote(REMOTE, settings.git_url(first), cwd=dest)
    state = LabState(lab, dest, apps)
    if lab.earlier is not None:  # the earlier version deployed first, as its own release
        say(f"Deploying the version that worked to {first} (git push herokusim HEAD~1:main)...")
        git(settings, dest, "push", "-q", REMOTE, "HEAD~1:refs/heads/main")
    push(state, settings, say)
    if lab.formation or lab.sizes:
        updates: dict[str, dict[str, object]] = {t: {"type": t, "quantity": q} for t, q in lab.formation.items()}
        for ptype, size in lab.sizes.items():
            updates.setdefault(ptype, {"type": ptype})["size"] = size
        api = Client(settings)
        try:
            api.patch(app_path(first, "formation"), {"updates": list(updates.values())})
        finally:
            api.close()
    return state


def push(state: LabState, settings: Settings, say: Say = print) -> None:
    """`git push herokusim main` from the checkout; LabError with the build's last line when it fails."""
    say(f"Deploying {state.checkout.name} to {next(iter(state.apps.values()))} (git push herokusim main)...")
    git(settings, state.checkout, "push", "-q", REMOTE, "main")


def apply_solution(state: LabState, settings: Settings) -> None:
    """The lab's solution as a commit in the checkout (files replaced or added), as a student would make it,
    then the lab's own `solve` step if the fix is more than files (it may push, scale, warp)."""
    if state.lab.solution_dir.is_dir():
        shutil.copytree(state.lab.solution_dir, state.checkout, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("SOLUTION.md"))
        git(settings, state.checkout, "add", "-A")
        git(settings, state.checkout, "-c", "user.name=student", "-c", "user.email=student@herokusim.local",
             "commit", "-q", "--allow-empty", "-m", f"Lab {state.lab.number}: the fix")
    if state.lab.solve is not None:
        ctx = CheckContext(settings, state.apps, state.checkout)
        try:
            state.lab.solve(state, settings, ctx)
        finally:
            ctx.close()


def check(state: LabState, settings: Settings, say: Say = print) -> CheckResult:
    """Run the lab's check against the live platform; undecided (not failed) when it cannot tell."""
    assert state.lab.check is not None
    ctx = CheckContext(settings, state.apps, state.checkout, say)
    try:
        if not all(ctx.exists(name) for name in state.apps.values()):
            return CheckResult.undecided("The lab's app is gone: start the lab again with `herokusim labs:reset`.")
        return state.lab.check(ctx)
    except OSError as exc:
        return CheckResult.undecided(f"Could not reach the daemon: {exc}")
    finally:
        ctx.close()
