"""router/ under a flood, in a real daemon: many idle connections or heads that never end leave the router,
the API and the git server answering, and the daemon's memory where it was (issue 9, items 10 and 11).

The daemon starts with its open-file limit lowered (soft 1024, hard 2048), so that running out of file
descriptors is reachable with a bounded number of loopback sockets; the idle window is shortened through
HEROKUSIM_ROUTER_IDLE_TIMEOUT.
"""

from __future__ import annotations

import re
import resource
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Daemon, checkout_of, git, start_daemon, stop_daemon
from test_router_e2e import deploy

SOFT, HARD = 1024, 2048
IDLE_TIMEOUT = 3


@pytest.fixture(scope="module")
def flooded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Path]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2 * HARD:
        pytest.skip(f"this test process may open only {hard} files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2 * HARD), hard))  # the flood's own sockets
    tmp = tmp_path_factory.mktemp("flood")
    daemon = start_daemon(tmp / "home", open_files=(SOFT, HARD), HEROKUSIM_ROUTER_IDLE_TIMEOUT=str(IDLE_TIMEOUT))
    try:
        repo = checkout_of("python-hello", tmp / "python-hello")
        deploy(daemon, repo, "demo")
        yield daemon, repo
    finally:
        stop_daemon(daemon)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def first_bytes(socks: list[socket.socket], wait: float) -> list[bytes]:
    """What each socket has received first, waiting up to `wait` seconds in all (b"" for nothing)."""
    received = {sock: b"" for sock in socks}
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + wait
        while selector.get_map() and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                received[sock] = sock.recv(65536)
                selector.unregister(sock)
    return [received[sock] for sock in socks]


def test_heads_that_never_end_leave_the_daemons_memory_alone(flooded: tuple[Daemon, Path]) -> None:
    daemon, _ = flooded
    before = rss_mb(daemon.proc.pid)
    socks = []
    try:
        for _ in range(300):  # 300 connections, each 300 KB of a request line that never ends
            sock = socket.create_connection(("127.0.0.1", daemon.router_port), timeout=10)
            socks.append(sock)
            sock.sendall(b"GET /" + b"a" * 300_000)
        answers = first_bytes(socks, wait=10)  # the router has read what it will read
        growth = rss_mb(daemon.proc.pid) - before
        assert growth < 30, f"the daemon grew by {growth:.0f} MB"
        assert all(answer.startswith(b"HTTP/1.1 400 Bad Request\r\n") for answer in answers)
    finally:
        for sock in socks:
            sock.close()
    assert daemon.get("demo.localhost").status_code == 200


def test_a_flood_of_idle_connections_leaves_the_platform_answering(flooded: tuple[Daemon, Path]) -> None:
    daemon, repo = flooded
    socks = []
    try:
        for _ in range(1500):  # more than the 1024 files the daemon started with, and than the router keeps
            socks.append(socket.create_connection(("127.0.0.1", daemon.router_port), timeout=IDLE_TIMEOUT + 10))
        response = daemon.get("demo.localhost")
        assert response.status_code == 200
        assert daemon.api("GET", "/apps/demo").status_code == 200
        listed = git("ls-remote", "herokusim", cwd=repo, env=daemon.env)
        assert listed.returncode == 0, listed.stderr
        assert "refs/heads/main" in listed.stdout
        # every idle connection is closed: the oldest to make room, the rest after the idle window
        for sock in socks:
            try:
                assert sock.recv(1) == b""
            except ConnectionResetError:
                pass
    finally:
        for sock in socks:
            sock.close()
    assert daemon.get("demo.localhost").status_code == 200
    limits = Path(f"/proc/{daemon.proc.pid}/limits").read_text()
    assert re.search(rf"^Max open files +{HARD} +{HARD} ", limits, re.MULTILINE)  # soft raised to the hard limit
