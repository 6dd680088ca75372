"""testing/pytest_plugin: run a user's app on a private herokusim from their pytest suite.

Registered through the `pytest11` entry point, so every pytest session in an environment with herokusim loads
it: it is inert until a test asks for one of its fixtures (no daemon at import or collection).

- `herokusim` (session): a private daemon (`python -m herokusim up`) on free loopback ports in a temporary
  HEROKUSIM_HOME, process runtime unless `--herokusim-runtime docker`; stopped at the session's end.
- `deploy` (function): `deploy(path, config=..., formation=..., addons=..., name=...)` creates an app, pushes
  the directory as a git commit, waits for its web dynos and returns an `App` (a labs CheckContext with an
  httpx `client` aimed at the app through the router). Apps are destroyed after the test unless
  `--herokusim-keep`.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from herokusim.cli import gitremote
from herokusim.client import ApiError, Client, app_path, parse_time
from herokusim.config import Settings
from herokusim.labs.context import CheckContext
from herokusim.labs.runner import LabError, git, settings_env

REMOTE = "herokusim"
START_TIMEOUT = 60.0  # the daemon's API answering
UP_TIMEOUT = 180.0  # web dynos up after a push or a change (a boot may take R10's 60 s)
STOP_TIMEOUT = 30.0  # SIGTERM to the daemon, then SIGKILL


class HerokusimError(Exception):
    """A one-line reason the private daemon or a deploy did not work."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("herokusim", "herokusim: run the app under test on a private herokusim")
    group.addoption("--herokusim-runtime", choices=["process", "docker"], default="process",
                    help="Where the private daemon runs dynos (default: process).")
    group.addoption("--herokusim-keep", action="store_true", default=False,
                    help="Keep the apps the deploy fixture made (and print how to reach them).")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Herokusim:
    """The private daemon: its `settings`, `home`, `ports`, `token`, an API client `api`, and `cli(*args)`."""

    settings: Settings
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log_path: Path

    def __post_init__(self) -> None:
        self.api = Client(self.settings)

    @property
    def home(self) -> Path:
        return self.settings.home

    @property
    def ports(self) -> dict[str, int]:
        return {"router": self.settings.router_port, "api": self.settings.api_port, "git": self.settings.git_port}

    @property
    def token(self) -> str:
        return self.settings.token_path.read_text().strip()

    def cli(self, *args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`herokusim ARGS` against this daemon, as a user would type it (its output captured)."""
        return subprocess.run([sys.executable, "-m", "herokusim", *args], cwd=cwd or self.home.parent,
                              env=self.env, capture_output=True, text=True, timeout=timeout, check=False)

    def output(self) -> str:
        """What the daemon printed (its banner, and anything that went wrong)."""
        return self.log_path.read_text(errors="replace")

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HerokusimError(f"the herokusim daemon exited at start (status {self.proc.returncode}): "
                                     f"{_last_line(self.output())}")
            if self.settings.token_path.exists():
                try:
                    self.api.get("/account")
                    return
                except ApiError:
                    pass
            time.sleep(0.1)
        raise HerokusimError(f"the herokusim daemon did not answer in {START_TIMEOUT:.0f} s: "
                             f"{_last_line(self.output())}")

    def stop(self) -> None:
        self.api.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def start(base: Path, runtime: str = "process") -> Herokusim:
    """A daemon in `base`/home on free loopback ports, its API answering."""
    home = base / "home"
    home.mkdir(parents=True, exist_ok=True)
    settings = Settings(home=home.resolve(), router_port=_free_port(), api_port=_free_port(),
                        git_port=_free_port(), runtime=runtime)
    env = {**settings_env(settings), "HEROKUSIM_RUNTIME": runtime}
    env.pop("HEROKUSIM_API_KEY", None)  # the private daemon's own token, not a user's
    log_path = base / "daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "herokusim", "up"], env=env, cwd=base,
                                stdout=log, stderr=subprocess.STDOUT)
    daemon = Herokusim(settings, env, proc, log_path)
    try:
        daemon._wait_until_up()
    except BaseException:
        daemon.stop()
        raise
    return daemon


@pytest.fixture(scope="session")
def herokusim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Herokusim]:
    """A private herokusim daemon for the session (started at the first test that needs it)."""
    runtime = request.config.getoption("--herokusim-runtime")
    try:
        daemon = start(tmp_path_factory.mktemp("herokusim"), runtime)
    except HerokusimError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield daemon
    finally:
        daemon.stop()


class App(CheckContext):
    """A deployed app: a labs CheckContext (logs, router_lines, scale, restart, warp, config_set, releases...)
    plus an httpx `client` aimed at it through the router, `run(cmd)`, `rollback()`, `name` and `url`."""

    def __init__(self, daemon: Herokusim, name: str, checkout: Path) -> None:
        super().__init__(daemon.settings, {"app": name}, checkout)
        self.name = name
        self.url = daemon.settings.web_url(name)
        self.client = httpx.Client(base_url=daemon.settings.router_url, headers={"Host": f"{name}.localhost"},
                                   timeout=60.0)

    def close(self) -> None:
        self.client.close()
        super().close()

    def wait_web(self, timeout: float = UP_TIMEOUT) -> None:
        """Every web dyno of the formation up on the current release, or HerokusimError with the last log."""
        if not self.wait_current("web", timeout=timeout):
            raise HerokusimError(f"{self.name}: the web dynos are not up after {timeout:.0f} s; last log line: "
                                 f"{_last_line(chr(10).join(self.logs(num=50)))}")

    def scale(self, app: str | None = None, wait: bool = True, **quantities: int) -> None:  # type: ignore[override]
        super().scale(app, **quantities)
        if wait and quantities.get("web"):
            self.wait_web()

    def restart(self, target: str | None = None, app: str | None = None, wait: bool = True) -> None:
        """`ps:restart [TYPE|DYNO]`; by default returns once the restarted web dynos are up again."""
        before = self.now()
        super().restart(target, app)
        if not wait:
            return
        deadline = time.monotonic() + UP_TIMEOUT
        while time.monotonic() < deadline:
            web = [d for d in self.dynos() if d["type"] == "web"
                   and (target in (None, "web") or d["name"] == target)]
            if all(d["state"] == "up" and parse_time(d["state_since"]) >= before for d in web):
                return
            time.sleep(0.25)
        raise HerokusimError(f"{self.name}: the web dynos did not come back up after the restart")

    def config_set(self, app: str | None = None, wait: bool = True, **values: str | None) -> None:  # type: ignore[override]
        """`config:set`: a new release; by default returns once its web dynos are up."""
        super().config_set(app, **values)
        if wait:
            self.wait_web()

    def rollback(self, version: int | None = None, wait: bool = True) -> dict[str, Any]:
        """Roll back to release `version` (default: the one before the current); the new release."""
        if version is None:
            done = [r for r in self.releases() if r.get("status", "succeeded") == "succeeded"]
            current = next((r["version"] for r in done if r.get("current")), None)
            earlier = [r["version"] for r in done if current is not None and r["version"] < current]
            if not earlier:
                raise HerokusimError(f"{self.name}: no earlier release to roll back to")
            version = earlier[-1]
        made: dict[str, Any] = self.api.post(app_path(self.name, "releases"), {"release": str(version)})
        if wait:
            self.wait_web()
        return made

    def run(self, command: str, timeout: float = 120.0) -> str:
        """A one-off dyno (`run:detached`) running `command`; its output once it has exited."""
        dyno = self.api.post(app_path(self.name, "dynos"), {"command": command, "attach": False})
        name = dyno["name"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mine = [d for d in self.dynos() if d["name"] == name]
            if not mine or mine[0]["state"] in ("complete", "crashed", "down"):
                break
            time.sleep(0.25)
        else:
            raise HerokusimError(f"{self.name}: `{command}` ({name}) did not exit in {timeout:.0f} s")
        tag = f" app[{name}]: "
        return "".join(line.split(tag, 1)[1] + "\n" for line in self.logs(dyno=name) if tag in line)


def _app_name(test: str) -> str:
    """`pt-test-restart-7f2c9a`: Heroku's rules (lowercase, starts with a letter, 30 at most), unique."""
    slug = re.sub(r"[^a-z0-9]+", "-", test.lower()).strip("-")
    return f"pt-{slug[:19].rstrip('-')}-{secrets.token_hex(3)}".replace("--", "-")


def _skipping(*skip: Path) -> Callable[[str, list[str]], set[str]]:
    """copytree's ignore: `.git`, and `skip` (pytest's temporary directories when they lie inside the source:
    a checkout copied into itself would never end)."""
    skip_resolved = {path.resolve() for path in skip}

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n == ".git" or (Path(directory) / n).resolve() in skip_resolved}
    return ignore


def push(daemon: Herokusim, source: Path, name: str, checkout: Path, skip: tuple[Path, ...] = ()) -> None:
    """`source`'s files as one commit in a fresh checkout, pushed to the app (its build must succeed)."""
    shutil.copytree(source, checkout, ignore=_skipping(checkout, *skip))
    git(daemon.settings, checkout, "init", "-q", "-b", "main")
    git(daemon.settings, checkout, "add", "-A")
    git(daemon.settings, checkout, "-c", "user.name=pytest", "-c", "user.email=pytest@herokusim.local",
        "commit", "-q", "--allow-empty", "-m", f"Deploy {source.name} from pytest")
    gitremote.add_remote(REMOTE, daemon.settings.git_url(name), cwd=checkout)
    git(daemon.settings, checkout, "push", "-q", REMOTE, "main")


@pytest.fixture
def deploy(herokusim: Herokusim, request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., App]]:
    """`deploy(path, config=None, formation=None, addons=None, name=None)` -> App, its web dynos up."""
    keep = request.config.getoption("--herokusim-keep")
    made: list[App] = []

    def factory(path: str | os.PathLike[str], config: dict[str, str] | None = None,
                formation: dict[str, int] | None = None, addons: list[str] | None = None,
                name: str | None = None) -> App:
        source = Path(path)
        if not source.is_dir():
            raise HerokusimError(f"deploy: {source} is not a directory")
        name = name or _app_name(request.node.name)
        api = herokusim.api
        api.post("/apps", {"name": name})
        app = App(herokusim, name, tmp_path_factory.mktemp(f"checkout-{name}") / "app")
        made.append(app)
        for plan in addons or []:
            api.post(app_path(name, "addons"), {"plan": plan})
        if config:
            api.patch(app_path(name, "config-vars"), config)
        try:
            push(herokusim, source, name, app.checkout, skip=(tmp_path_factory.getbasetemp(),))
        except LabError as exc:
            raise HerokusimError(f"deploy {source} to {name}: {exc}") from None
        if formation:
            api.patch(app_path(name, "formation"),
                      {"updates": [{"type": t, "quantity": q} for t, q in formation.items()]})
        app.wait_web()
        return app

    yield factory
    for app in made:
        app.close()
        if keep:
            print(f"\nherokusim: kept {app.name} ({app.url}, HEROKUSIM_HOME={herokusim.home} "
                  f"HEROKUSIM_API_PORT={herokusim.settings.api_port})")
        else:
            try:
                herokusim.api.delete(app_path(app.name))
            except ApiError:
                pass  # already gone (the test destroyed it)
