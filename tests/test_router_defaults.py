"""What ships is Heroku's: the router's timeouts and limits, which tests shorten only through settings.

One test per default proves the Heroku value ships; the behaviour each governs is exercised here (the
connect attempts, the metrics window) or where its H-code is tested (the backlog: H11 in
test_router_codes.py; the request limits: H25 there; the timeouts: H12, H15, H19, H20, H28 through the
settings).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from test_router import APP_ID, parse_line, platform, run

from herokusim.config import Settings
from herokusim.router import limits, metrics
from herokusim.router.metrics import AppMetrics
from herokusim.router.table import Backend

ROUTER_ENV = {  # setting: (its environment variable, Heroku's value)
    "router_timeout": ("HEROKUSIM_ROUTER_TIMEOUT", 30.0),  # H12
    "router_boot_wait": ("HEROKUSIM_ROUTER_BOOT_WAIT", 75.0),  # H20 (and H99 when every dyno stays quarantined)
    "router_idle_timeout": ("HEROKUSIM_ROUTER_IDLE_TIMEOUT", 55.0),  # H15 / H28
    "router_connect_timeout": ("HEROKUSIM_ROUTER_CONNECT_TIMEOUT", 5.0),  # H19
    "router_quarantine": ("HEROKUSIM_ROUTER_QUARANTINE", 5.0),
}

LIMITS = {
    "MAX_CONNECT_ATTEMPTS": 10,
    "BACKLOG_PER_DYNO": 200,  # H11
    "MAX_REQUEST_LINE": 8192,  # H25
    "MAX_HEADER": 8192,
    "MAX_HEADER_NAME": 1000,
    "MAX_HEADERS": 1000,
}


@pytest.mark.parametrize("field", ROUTER_ENV)
def test_router_timeout_default_is_herokus(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    for name, _ in ROUTER_ENV.values():
        monkeypatch.delenv(name, raising=False)
    assert getattr(Settings.from_env(), field) == ROUTER_ENV[field][1]


@pytest.mark.parametrize("field", ROUTER_ENV)
def test_router_timeouts_are_settings(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    monkeypatch.setenv(ROUTER_ENV[field][0], "0.25")
    assert getattr(Settings.from_env(), field) == 0.25


@pytest.mark.parametrize("name", LIMITS)
def test_router_limit_is_herokus(name: str) -> None:
    assert getattr(limits, name) == LIMITS[name]


def test_metrics_window_is_a_minute() -> None:
    assert metrics.WINDOW == 60


def closed_ports(n: int) -> list[int]:
    """Loopback ports nothing listens on: a connection to one is refused."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@run
async def test_a_request_tries_at_most_max_connect_attempts_dynos(tmp_path: Path) -> None:
    """Every dyno refuses: the router tries MAX_CONNECT_ATTEMPTS of them (each one quarantined), then H21."""
    dynos = limits.MAX_CONNECT_ATTEMPTS + 2
    async with platform(tmp_path, router_quarantine=60.0) as p:
        backends = [Backend(f"web.{i}", "127.0.0.1", port) for i, port in enumerate(closed_ports(dynos), 1)]
        p.table.update(APP_ID, web_quantity=dynos)
        p.table.set_backends(APP_ID, backends, crashed=False)
        reader, writer = await asyncio.open_connection("127.0.0.1", p.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
        assert (await reader.readline()).startswith(b"HTTP/1.1 503 ")
        writer.close()
        now = asyncio.get_running_loop().time()
        tried = [b for b in backends if b.quarantined_until > now]
        assert len(tried) == limits.MAX_CONNECT_ATTEMPTS
        fields = parse_line(p.lines()[-1])
        assert (fields["code"], fields["status"]) == ("H21", "503")
        assert fields["dyno"] in {b.dyno for b in tried}
        assert all(b.inflight == 0 for b in backends)


def test_a_request_counts_in_the_metrics_for_the_window_then_leaves_them() -> None:
    window = metrics.WINDOW
    app = AppMetrics()
    for _ in range(window * 2):  # two a second over the window
        app.record(1000.5, 200, None, "web.1", 1, 20)
    inside = app.snapshot("demo", 1000.0 + window - 0.5, {})
    assert inside["requests_per_second"] == 2.0
    assert inside["service_ms"]["p50"] == 20
    after = app.snapshot("demo", 1000.0 + window + 0.5, {})
    assert after["requests_per_second"] == 0.0
    assert after["service_ms"] == {"p50": 0, "p95": 0, "p99": 0}
    assert after["requests"] == window * 2  # the count since start keeps them
