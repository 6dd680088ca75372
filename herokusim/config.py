"""Settings: where herokusim keeps its state, which loopback ports it listens on, and its timeouts.

Every value comes from an environment variable with a Heroku-faithful default; the daemon and the CLI
read the same settings, which is how the CLI finds the daemon. Timeouts are real seconds and are
overridable only here (tests shorten them through these variables; the defaults are Heroku's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

LOOPBACK = "127.0.0.1"
STACK = "heroku-24"
DEFAULT_USER = "dev@herokusim.local"

# Heroku's numbers (HEROKU.md). Each is one named constant; Settings may override it for tests.
ROUTER_TIMEOUT = 30.0  # H12: seconds to the first response byte
ROUTER_BOOT_WAIT = 75.0  # H20: seconds a request waits for a booting web dyno (H99: for a quarantined one)
ROUTER_IDLE_TIMEOUT = 55.0  # H15 / H28: rolling seconds without a byte once a response / request is under way; idle client connections are closed after as long
ROUTER_CONNECT_TIMEOUT = 5.0  # H19: seconds a dyno has to accept a connection
ROUTER_QUARANTINE = 5.0  # seconds the router skips a dyno that refused or did not accept
BOOT_TIMEOUT = 60.0  # R10: seconds a web dyno has to bind $PORT
STOP_GRACE = 30.0  # R12: seconds between SIGTERM and SIGKILL
BUILD_TIMEOUT = 15 * 60.0  # seconds a build (detect, compile, release, pack) may take: Heroku's 15 minutes
LOG_HISTORY = 1500  # lines kept per app
MEMORY_QUOTA_MB = 512  # R14 above it, R15 above twice it: standard-1X (other sizes are multiples of it)
CYCLE_HOURS = 24.0  # simulated hours from a dyno's start to its daily cycle ...
CYCLE_JITTER_MINUTES = 216.0  # ... plus a random 0 to this many simulated minutes
# The Platform API's rate limit, per account (this daemon is one): a bucket of 4500 tokens, refilled at 75 a
# minute, each API request taking one (devcenter.heroku.com/articles/platform-api-reference#rate-limits, its
# current text; older copies said 2400 at 20 a minute). 75 a minute is a full bucket an hour, which is how a
# HEROKUSIM_API_RATE_LIMIT of another size refills.
API_RATE_LIMIT = 4500
API_RATE_REFILL_SECONDS = 3600.0  # an empty bucket is full again after this many (real) seconds
TUI_USER_AGENT = "herokusim-tui"  # what the TUI's requests say they are: they do not count (api/account_api)

DEFAULT_ROUTER_PORT = 5000
DEFAULT_API_PORT = 5001
DEFAULT_GIT_PORT = 5002


class SettingsError(ValueError):
    """A setting has a value herokusim cannot use."""


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise SettingsError(f"{name}={raw!r} is not a port number (0-65535)")
    return port


def _env_positive(name: str, default: float, what: str) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not {what}") from None
    if not 0 < value < 1e9:
        raise SettingsError(f"{name}={raw!r} must be more than 0")
    return value


def _env_count(name: str, default: int, what: str) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise SettingsError(f"{name}={raw!r} is not {what} (a whole number, 0 or more)")
    return int(raw)


def _env_seconds(name: str, default: float) -> float:
    return _env_positive(name, default, "a number of seconds")


RUNTIMES = ("auto", "docker", "process")


def _env_runtime(name: str, default: str) -> str:
    raw = os.environ.get(name) or default
    if raw not in RUNTIMES:
        raise SettingsError(f"{name}={raw!r} is not a runtime: use auto, docker or process")
    return raw


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("herokusim", appauthor=False))


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=default_home)
    router_port: int = DEFAULT_ROUTER_PORT
    api_port: int = DEFAULT_API_PORT
    git_port: int = DEFAULT_GIT_PORT
    runtime: str = "auto"  # auto | docker | process (auto: Docker when an engine answers)
    router_timeout: float = ROUTER_TIMEOUT
    router_boot_wait: float = ROUTER_BOOT_WAIT
    router_idle_timeout: float = ROUTER_IDLE_TIMEOUT
    router_connect_timeout: float = ROUTER_CONNECT_TIMEOUT
    router_quarantine: float = ROUTER_QUARANTINE
    boot_timeout: float = BOOT_TIMEOUT
    stop_grace: float = STOP_GRACE
    build_timeout: float = BUILD_TIMEOUT
    time_scale: float | None = None  # simulated seconds per real second; None: the store's (1 at first)
    memory_quota_mb: float = MEMORY_QUOTA_MB
    api_rate_limit: int = API_RATE_LIMIT  # tokens in the API's bucket; 0: no rate limit

    @classmethod
    def from_env(cls) -> Settings:
        home = os.environ.get("HEROKUSIM_HOME")
        return cls(
            home=Path(home).expanduser().resolve() if home else default_home(),
            router_port=_env_port("HEROKUSIM_ROUTER_PORT", DEFAULT_ROUTER_PORT),
            api_port=_env_port("HEROKUSIM_API_PORT", DEFAULT_API_PORT),
            git_port=_env_port("HEROKUSIM_GIT_PORT", DEFAULT_GIT_PORT),
            runtime=_env_runtime("HEROKUSIM_RUNTIME", "auto"),
            router_timeout=_env_seconds("HEROKUSIM_ROUTER_TIMEOUT", ROUTER_TIMEOUT),
            router_boot_wait=_env_seconds("HEROKUSIM_ROUTER_BOOT_WAIT", ROUTER_BOOT_WAIT),
            router_idle_timeout=_env_seconds("HEROKUSIM_ROUTER_IDLE_TIMEOUT", ROUTER_IDLE_TIMEOUT),
            router_connect_timeout=_env_seconds("HEROKUSIM_ROUTER_CONNECT_TIMEOUT", ROUTER_CONNECT_TIMEOUT),
            router_quarantine=_env_seconds("HEROKUSIM_ROUTER_QUARANTINE", ROUTER_QUARANTINE),
            boot_timeout=_env_seconds("HEROKUSIM_BOOT_TIMEOUT", BOOT_TIMEOUT),
            stop_grace=_env_seconds("HEROKUSIM_STOP_GRACE", STOP_GRACE),
            build_timeout=_env_seconds("HEROKUSIM_BUILD_TIMEOUT", BUILD_TIMEOUT),
            time_scale=_env_positive("HEROKUSIM_TIME_SCALE", 1.0, "a time scale (simulated seconds per second)")
            if os.environ.get("HEROKUSIM_TIME_SCALE") else None,
            memory_quota_mb=_env_positive("HEROKUSIM_MEMORY_QUOTA_MB", MEMORY_QUOTA_MB, "a number of MB"),
            api_rate_limit=_env_count("HEROKUSIM_API_RATE_LIMIT", API_RATE_LIMIT, "a number of API requests"),
        )

    # Everything below is derived from home and the ports.
    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def db_path(self) -> Path:
        return self.home / "herokusim.db"

    @property
    def token_path(self) -> Path:
        return self.home / "token"

    @property
    def repos_dir(self) -> Path:
        return self.home / "repos"

    @property
    def slugs_dir(self) -> Path:
        return self.home / "slugs"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def builds_dir(self) -> Path:
        return self.home / "builds"

    @property
    def dynos_dir(self) -> Path:
        return self.home / "dynos"

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    @property
    def router_url(self) -> str:
        return f"http://{LOOPBACK}:{self.router_port}"

    @property
    def git_base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.git_port}"

    def web_url(self, app_name: str) -> str:
        return f"http://{app_name}.localhost:{self.router_port}/"

    def git_url(self, app_name: str) -> str:
        return f"{self.git_base_url}/{app_name}.git"

    def ensure_dirs(self) -> None:
        for path in (self.home, self.repos_dir, self.slugs_dir, self.cache_dir, self.builds_dir, self.dynos_dir):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
