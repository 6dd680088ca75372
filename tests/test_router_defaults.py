"""What ships is Heroku's: the router's timeouts and limits, which tests shorten only through settings."""

from __future__ import annotations

import pytest

from herokusim.config import Settings
from herokusim.router import limits, metrics

ROUTER_ENV = ("HEROKUSIM_ROUTER_TIMEOUT", "HEROKUSIM_ROUTER_BOOT_WAIT", "HEROKUSIM_ROUTER_IDLE_TIMEOUT",
              "HEROKUSIM_ROUTER_CONNECT_TIMEOUT", "HEROKUSIM_ROUTER_QUARANTINE")


def test_router_defaults_are_herokus(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ROUTER_ENV:
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    assert settings.router_timeout == 30.0  # H12
    assert settings.router_boot_wait == 75.0  # H20 (and H99 when every dyno stays quarantined)
    assert settings.router_idle_timeout == 55.0  # H15 / H28
    assert settings.router_connect_timeout == 5.0  # H19
    assert settings.router_quarantine == 5.0
    assert limits.MAX_CONNECT_ATTEMPTS == 10
    assert limits.BACKLOG_PER_DYNO == 200  # H11
    assert (limits.MAX_REQUEST_LINE, limits.MAX_HEADER, limits.MAX_HEADER_NAME, limits.MAX_HEADERS) == \
        (8192, 8192, 1000, 1000)  # H25
    assert metrics.WINDOW == 60


@pytest.mark.parametrize("name", ROUTER_ENV)
def test_router_timeouts_are_settings(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "0.25")
    field = name.removeprefix("HEROKUSIM_").lower()
    assert getattr(Settings.from_env(), field) == 0.25
