"""Shared fixtures: a real herokusim daemon in a temporary HEROKUSIM_HOME on free loopback ports."""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
HEROKUSIM = [sys.executable, "-m", "herokusim"]  # this checkout's herokusim, run from pytest's cwd


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Daemon:
    home: Path
    env: dict[str, str]
    router_port: int
    api_port: int
    git_port: int
    proc: subprocess.Popen[str]
    log_path: Path
    # how `herokusim` is run, for the daemon and for cli(): this checkout's, unless a test installed another
    program: list[str] = field(default_factory=lambda: HEROKUSIM)

    @property
    def runtime(self) -> str:
        return self.env["HEROKUSIM_RUNTIME"]

    @property
    def token(self) -> str:
        return (self.home / "token").read_text().strip()

    def cli(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `herokusim ARGS` as a user would; by default outside any git checkout (apps:create inside
        one adds a remote to it)."""
        checkout = {}
        if self.program == HEROKUSIM:  # `-m herokusim` from another cwd: still this checkout's code
            checkout = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), self.env.get("PYTHONPATH")]))}
        return subprocess.run([*self.program, *args], cwd=cwd or self.home.parent,
                              env={**self.env, **checkout, **(env or {})},
                              capture_output=True, text=True, input=input, timeout=timeout, check=False)

    def get(self, host: str, path: str = "/", **kwargs: object) -> httpx.Response:
        """An HTTP request through the router (Python does not resolve *.localhost: send the Host)."""
        return httpx.get(f"http://127.0.0.1:{self.router_port}{path}", headers={"Host": host}, timeout=60,
                         **kwargs)  # type: ignore[arg-type]

    def api(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/vnd.heroku+json; version=3"}
        return httpx.request(method, f"http://127.0.0.1:{self.api_port}{path}", headers=headers, timeout=30,
                             **kwargs)  # type: ignore[arg-type]

    def output(self) -> str:
        """What the daemon printed (its banner, and anything that went wrong)."""
        return self.log_path.read_text()


def _wait_until_up(daemon: Daemon, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if daemon.proc.poll() is not None:
            raise RuntimeError(f"daemon exited early:\n{log.read_text()}")
        if (daemon.home / "token").exists():
            try:
                if daemon.api("GET", "/account").status_code == 200:
                    return
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"daemon did not answer in 30 s:\n{log.read_text()}")


def start_daemon(home: Path, open_files: tuple[int, int] | None = None, program: list[str] | None = None,
                 cwd: Path | None = None, **settings: str) -> Daemon:
    """`open_files`: the daemon's (soft, hard) RLIMIT_NOFILE, to make running out of descriptors reachable.
    `program`: how to run `herokusim` (default: this checkout's, from pytest's cwd); `cwd`: where it runs."""
    program = program or HEROKUSIM
    ports = {"router": free_port(), "api": free_port(), "git": free_port()}
    env = {
        **os.environ,
        "HEROKUSIM_HOME": str(home),
        "HEROKUSIM_ROUTER_PORT": str(ports["router"]),
        "HEROKUSIM_API_PORT": str(ports["api"]),
        "HEROKUSIM_GIT_PORT": str(ports["git"]),
        # shortened through the documented settings only; test_defaults.py proves what ships
        "HEROKUSIM_STOP_GRACE": "3",
        # the suite makes thousands of API calls a daemon (the fuzz tests): far more than Heroku's 4500 an hour
        "HEROKUSIM_API_RATE_LIMIT": "100000000",
        "HEROKUSIM_RUNTIME": _daemon_runtime,  # process, unless the test is marked both_runtimes
        "GIT_TERMINAL_PROMPT": "0",
        **settings,
    }
    env.pop("HEROKUSIM_API_KEY", None)
    home.mkdir(parents=True, exist_ok=True)
    _daemon_homes.append(home)
    log = home.parent / f"{home.name}-daemon.log"
    handle = open(log, "w")  # noqa: SIM115 - the daemon writes it for its whole life
    limit = None if open_files is None else functools.partial(resource.setrlimit, resource.RLIMIT_NOFILE, open_files)
    proc = subprocess.Popen([*program, "up"], env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=limit)  # noqa: PLW1509 - setrlimit only
    daemon = Daemon(home, env, ports["router"], ports["api"], ports["git"], proc, log, program)
    _wait_until_up(daemon, log)
    return daemon


def stop_daemon(daemon: Daemon) -> None:
    if daemon.proc.poll() is None:
        daemon.proc.send_signal(signal.SIGTERM)
        try:
            daemon.proc.wait(30)
        except subprocess.TimeoutExpired:
            daemon.proc.kill()
            daemon.proc.wait()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = start_daemon(tmp_path / "home")
    try:
        yield d
    finally:
        stop_daemon(d)


# --- both runtimes: a test marked `both_runtimes` runs once per runtime, its daemons on that runtime ------

RUNTIMES = ["process", "docker"]
HOME_LABEL = "herokusim.home"  # what the Docker runtime puts on every container and network it makes
_daemon_runtime = "process"  # the runtime start_daemon gives daemons during the current test
_daemon_homes: list[Path] = []  # every home start_daemon used, so Docker leftovers can be removed


def pytest_configure(config: pytest.Config) -> None:
    if os.geteuid() == 0 and not config.option.basetemp:
        # As root, a heroku-postgresql server runs as its own system user and must traverse the daemon's home:
        # its provider opens the directories above the home (o+x). pytest's shared /tmp/pytest-of-root is set
        # back to 0700 whenever another pytest session starts (a second suite, a developer's run), which cut
        # a running server off its data mid-test. A session's own base directory is touched by no other.
        config.option.basetemp = f"/tmp/herokusim-pytest-{os.getpid()}"
    config.addinivalue_line("markers", "both_runtimes: run once on the process runtime and once on the Docker "
                                       "runtime (that half skips, saying why, where no Docker engine answers)")


def pytest_unconfigure(config: pytest.Config) -> None:
    basetemp = str(config.option.basetemp or "")
    if basetemp.startswith("/tmp/herokusim-pytest-"):
        shutil.rmtree(basetemp, ignore_errors=True)  # pytest keeps an explicit basetemp; nobody reads this one


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("both_runtimes"):
        metafunc.parametrize("runtime", RUNTIMES, indirect=True)


@pytest.fixture(scope="session")
def docker_stack() -> str:
    """The stack image, built once per recipe on this machine (later sessions find it in the engine)."""
    from herokusim import stack

    client = stack.connect()
    if client is None:
        pytest.skip("no Docker engine answers here: the Docker runtime's half of the suite needs one")
    return stack.ensure_image(client, lambda line: None)


@pytest.fixture(autouse=True)
def runtime(request: pytest.FixtureRequest) -> Iterator[str]:
    """The runtime of the daemons this test starts: `process`, or each in turn under `both_runtimes`."""
    global _daemon_runtime
    name = getattr(request, "param", "process")
    if name == "docker":
        request.getfixturevalue("docker_stack")
    started = len(_daemon_homes)
    _daemon_runtime = name
    try:
        yield name
    finally:
        _daemon_runtime = "process"
        if name == "docker":  # after the test's daemons stopped: whatever a failure left behind goes too
            for home in _daemon_homes[started:]:
                remove_docker_leftovers(home)
        del _daemon_homes[started:]


def leftover_dynos(daemon: Daemon) -> list[str]:
    """The dynos of this daemon's home still running: containers by label, processes by their mark."""
    home = daemon.home.resolve()
    if daemon.runtime == "docker":
        import docker

        client = docker.from_env()
        return [c.id for c in client.containers.list(all=True, filters={"label": [
            f"{HOME_LABEL}={home}", "herokusim.role=dyno"]})]
    mark = f"HEROKUSIM_DYNOS_DIR={home / 'dynos'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(entry.name)
            except OSError:
                pass
    return found


def dyno_alive(daemon: Daemon, handle: str) -> bool:
    """Whether a dyno that leftover_dynos() found still runs: its container, or its process (not a zombie)."""
    if daemon.runtime == "docker":
        import docker

        try:
            return docker.from_env().containers.get(handle).status == "running"
        except docker.errors.NotFound:
            return False
    stat = Path(f"/proc/{handle}/stat")
    try:
        return stat.read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def remove_docker_leftovers(home: Path) -> None:
    """Whatever a Docker test made under this home goes, even when the test failed half-way."""
    from herokusim import stack

    client = stack.connect()
    if client is None:
        return
    import docker

    label = f"{HOME_LABEL}={home.resolve()}"
    # ignore_removed: a build container goes in the background as its build ends, maybe during this listing
    for container in client.containers.list(all=True, filters={"label": label}, ignore_removed=True):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):  # being removed already
            container.remove(force=True)
    for network in client.networks.list(filters={"label": label}):
        for _ in range(20):  # a container being removed still holds its endpoint for a moment
            try:
                network.remove()
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError:
                time.sleep(0.25)


def git(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {**os.environ, "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
            "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com", "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(["git", *args], cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=300, check=False)


def checkout_of(fixture: str, dest: Path) -> Path:
    """A fresh git checkout of a fixture app, one commit on main."""
    shutil.copytree(FIXTURES / fixture, dest)
    git("init", "-q", "-b", "main", cwd=dest)
    git("add", "-A", cwd=dest)
    result = git("commit", "-q", "-m", "first", cwd=dest)
    assert result.returncode == 0, result.stderr
    return dest


def wait_for(predicate, timeout: float = 30, interval: float = 0.1, message: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}; last value: {last!r}")
