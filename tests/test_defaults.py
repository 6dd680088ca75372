"""What ships is Heroku's: one test per default that tests elsewhere shorten through settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from herokusim import config
from herokusim.clock import TIME_SCALE
from herokusim.config import Settings, SettingsError
from herokusim.dynos import CRASH_COOLOFFS, SIZES, crash_cooloff, memory_quota_mb, r15_limit_mb
from herokusim.logplex import MAX_LINE_BYTES

ENV = ("HEROKUSIM_HOME", "HEROKUSIM_ROUTER_PORT", "HEROKUSIM_API_PORT", "HEROKUSIM_GIT_PORT",
       "HEROKUSIM_ROUTER_TIMEOUT", "HEROKUSIM_ROUTER_BOOT_WAIT", "HEROKUSIM_BOOT_TIMEOUT", "HEROKUSIM_STOP_GRACE",
       "HEROKUSIM_MEMORY_QUOTA_MB", "HEROKUSIM_TIME_SCALE", "HEROKUSIM_API_RATE_LIMIT",
       "HEROKUSIM_BUILD_TIMEOUT")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_router_timeout_is_30_seconds(clean_env: None) -> None:
    assert Settings.from_env().router_timeout == 30.0


def test_router_boot_wait_is_75_seconds(clean_env: None) -> None:
    assert Settings.from_env().router_boot_wait == 75.0


def test_boot_timeout_is_60_seconds(clean_env: None) -> None:
    assert Settings.from_env().boot_timeout == 60.0


def test_stop_grace_is_30_seconds(clean_env: None) -> None:
    assert Settings.from_env().stop_grace == 30.0


def test_build_timeout_is_15_minutes(clean_env: None) -> None:
    from herokusim.builds.compiler import describe_seconds

    assert Settings.from_env().build_timeout == 15 * 60
    assert describe_seconds(Settings.from_env().build_timeout) == "15 minutes", "as Heroku words it"


def test_log_history_is_1500_lines_and_lines_split_at_10000_bytes() -> None:
    assert config.LOG_HISTORY == 1500
    assert MAX_LINE_BYTES == 10_000


def test_crash_cooloffs_follow_heroku_schedule() -> None:
    assert CRASH_COOLOFFS == (0, 20, 40, 60, 180, 320)
    assert [crash_cooloff(n) for n in range(1, 9)] == [0, 20, 40, 60, 180, 320, 320, 320]


def test_daily_cycle_is_24_hours_plus_up_to_216_minutes() -> None:
    assert config.CYCLE_HOURS == 24
    assert config.CYCLE_JITTER_MINUTES == 216


def test_memory_quota_is_512_mb_for_standard_1x_and_scales_by_size(clean_env: None) -> None:
    settings = Settings.from_env()
    assert settings.memory_quota_mb == 512
    quotas = {size: memory_quota_mb(settings, size) for size in SIZES}
    assert quotas == {"eco": 512, "basic": 512, "standard-1X": 512, "standard-2X": 1024, "performance-m": 2560,
                      "performance-l": 14336, "performance-l-RAM": 30 * 1024, "performance-XL": 62 * 1024,
                      "performance-2XL": 126 * 1024}
    # R15 at twice the quota, at 1.2 times it for the three largest sizes
    assert {size: r15_limit_mb(settings, size) / quota for size, quota in quotas.items()} \
        == {**dict.fromkeys(SIZES, 2.0), "performance-l-RAM": 1.2, "performance-XL": 1.2, "performance-2XL": 1.2}


def test_simulated_clock_runs_at_real_time_by_default(clean_env: None) -> None:
    assert Settings.from_env().time_scale is None, "not given: the scale the store saved"
    assert TIME_SCALE == 1.0, "what a first start runs at"


def test_api_rate_limit_is_4500_requests_refilled_at_75_a_minute(clean_env: None) -> None:
    from herokusim.api.account_api import RateLimit

    settings = Settings.from_env()
    assert settings.api_rate_limit == 4500
    clock = [0.0]
    bucket = RateLimit(settings.api_rate_limit, now=lambda: clock[0])
    for _ in range(4500):
        assert bucket.take()
    assert not bucket.take() and bucket.remaining == 0
    clock[0] += 60
    assert bucket.remaining == 75
    clock[0] += 3600
    assert bucket.remaining == 4500, "never more than the bucket holds"


def test_home_defaults_under_xdg_data_dir(clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert Settings.from_env().home == tmp_path / "herokusim"


def test_ports_and_loopback(clean_env: None) -> None:
    settings = Settings.from_env()
    assert (settings.router_port, settings.api_port, settings.git_port) == (5000, 5001, 5002)
    assert settings.host == "127.0.0.1"
    assert settings.web_url("demo") == "http://demo.localhost:5000/"
    assert settings.git_url("demo") == "http://127.0.0.1:5002/demo.git"


@pytest.mark.parametrize("name,value", [("HEROKUSIM_ROUTER_PORT", "http"), ("HEROKUSIM_API_PORT", "70000"),
                                        ("HEROKUSIM_STOP_GRACE", "-1"), ("HEROKUSIM_ROUTER_TIMEOUT", "soon"),
                                        ("HEROKUSIM_TIME_SCALE", "0"), ("HEROKUSIM_MEMORY_QUOTA_MB", "lots"),
                                        ("HEROKUSIM_API_RATE_LIMIT", "-1"), ("HEROKUSIM_API_RATE_LIMIT", "1e3"),
                                        ("HEROKUSIM_BUILD_TIMEOUT", "0")])
def test_bad_settings_are_named(clean_env: None, monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        Settings.from_env()
