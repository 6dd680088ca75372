"""Start-up failures: a database that is corrupt, read-only or not a file, a port already taken, a home
that cannot be written. Each ends `herokusim up` at once with one line on stderr (what, where, what to do)
and a non-zero status, holding nothing: a daemon started next on the same home comes up."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, start_daemon, stop_daemon

EXIT_BOUND = 60  # seconds: far more than a failed start takes; only a hang reaches it


def up(home: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEROKUSIM_HOME": str(home), "HEROKUSIM_RUNTIME": "process",
           "HEROKUSIM_ROUTER_PORT": "0", "HEROKUSIM_API_PORT": "0", "HEROKUSIM_GIT_PORT": "0", **settings}
    env.pop("HEROKUSIM_API_KEY", None)
    try:
        return subprocess.run([sys.executable, "-m", "herokusim", "up"], env=env,
                              cwd=next(p for p in home.parents if p.is_dir()),
                              capture_output=True, text=True, timeout=EXIT_BOUND, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"herokusim up did not exit after a failed start; stderr: {exc.stderr!r}") from None


def one_line_failure(result: subprocess.CompletedProcess[str], *says: str) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("herokusim: "), lines[0]
    for part in says:
        assert part in lines[0], lines[0]
    return lines[0]


def comes_up_on(home: Path) -> list[str]:
    """A daemon starts on `home` (nothing of the failed one holds its lock); the names of its apps."""
    daemon = start_daemon(home)
    try:
        return [a["name"] for a in daemon.api("GET", "/apps").json()]
    finally:
        stop_daemon(daemon)


@pytest.fixture
def home_with_app(tmp_path: Path) -> Path:
    """A home whose database holds one app."""
    home = tmp_path / "home"
    daemon = start_daemon(home)
    try:
        assert daemon.api("POST", "/apps", json={"name": "keeper"}).status_code == 201
    finally:
        stop_daemon(daemon)
    return home


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    """Files made immutable with chattr +i (read-only even for root), made mutable again afterwards."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_corrupt_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "herokusim.db").write_bytes(b"these bytes are no sqlite database\n" * 100)
    one_line_failure(up(home), str(home / "herokusim.db"), "not a database", "move it aside")
    (home / "herokusim.db").rename(home / "herokusim.db.damaged")
    assert comes_up_on(home) == []


def test_damaged_header_of_a_real_database(home_with_app: Path) -> None:
    db = home_with_app / "herokusim.db"
    with db.open("r+b") as handle:
        handle.write(b"\xff" * 100)  # sqlite's 100-byte header
    one_line_failure(up(home_with_app), str(db))


def test_database_path_is_a_directory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "herokusim.db").mkdir(parents=True)
    one_line_failure(up(home), str(home / "herokusim.db"))
    (home / "herokusim.db").rmdir()
    assert comes_up_on(home) == []


def test_read_only_database(home_with_app: Path, immutable: list[Path]) -> None:
    db = home_with_app / "herokusim.db"
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(db)], check=False).returncode:
        pytest.skip("chattr +i is not available here: no way to make a file read-only for root")
    immutable.append(db)
    one_line_failure(up(home_with_app), str(db), "readonly", "writable")
    subprocess.run(["chattr", "-i", str(db)], check=True)
    assert comes_up_on(home_with_app) == ["keeper"], "the database is untouched"


@pytest.mark.parametrize("which", ["ROUTER", "API", "GIT"])
def test_port_taken(tmp_path: Path, which: str) -> None:
    home = tmp_path / "home"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        one_line_failure(up(home, **{f"HEROKUSIM_{which}_PORT": str(port)}), f"127.0.0.1:{port}",
                         f"HEROKUSIM_{which}_PORT")
    assert comes_up_on(home) == []


def test_home_not_writable(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory\n")
    one_line_failure(up(tmp_path / "a-file" / "home"), "HEROKUSIM_HOME", str(tmp_path / "a-file" / "home"))
