"""labs/context: what a lab's check can do to the live platform — the CheckContext.

A check is a client of the daemon like the CLI: it calls the Platform API through herokusim/client.py, sends
HTTP through the router (to 127.0.0.1 with the app's Host), reads the logs, scales, restarts, warps the
simulated clock. It never reaches into the daemon's objects. `say` streams what it is doing to the student
(the CLI prints it, the TUI shows it in the lab's pane).
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from herokusim.client import ApiError, Client, app_path, parse_time
from herokusim.config import Settings

# `key=value` and `key="quoted value"` pairs of a router line
_FIELD = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)')


def _stamp(line: str) -> datetime | None:
    try:
        return parse_time(line.split(" ", 1)[0])
    except ValueError:
        return None


def parse_router_line(message: str) -> dict[str, str]:
    """The fields of a `heroku[router]` line: {"at": "error", "code": "H12", "service": "30001ms", ...}."""
    return {key: value[1:-1] if value.startswith('"') else value for key, value in _FIELD.findall(message)}


class CheckContext:
    """One check's view of the platform. `apps`: the lab's app names by role (`app`, `staging`, ...);
    `app`: the first, the one the checkout deploys to; `checkout`: the student's lab directory."""

    def __init__(self, settings: Settings, apps: dict[str, str], checkout: Path,
                 say: Callable[[str], None] = lambda line: None) -> None:
        self.settings = settings
        self.apps = apps
        self.app = next(iter(apps.values()))
        self.checkout = checkout
        self.say = say
        self.api = Client(settings)

    def close(self) -> None:
        self.api.close()

    # HTTP through the router, as a browser would
    def get(self, path: str = "/", app: str | None = None, timeout: float = 60.0,
            headers: dict[str, str] | None = None, method: str = "GET", **kwargs: Any) -> httpx.Response:
        host = f"{app or self.app}.localhost"
        return httpx.request(method, f"http://127.0.0.1:{self.settings.router_port}{path}",
                             headers={"Host": host, **(headers or {})}, timeout=timeout, **kwargs)

    def load(self, count: int, path: str = "/", concurrency: int = 10, app: str | None = None,
             timeout: float = 60.0, headers: dict[str, str] | None = None) -> list[httpx.Response | Exception]:
        """`count` requests, `concurrency` at a time; each answer, or the exception that stood in for one."""
        def one(_: int) -> httpx.Response | Exception:
            try:
                return self.get(path, app=app, timeout=timeout, headers=headers)
            except httpx.HTTPError as exc:
                return exc
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(one, range(count)))

    # the logs
    def logs(self, num: int = 1500, source: str | None = None, dyno: str | None = None,
             app: str | None = None, since: datetime | None = None) -> list[str]:
        """The app's recent log lines (`2026-11-29T05:00:00+00:00 heroku[router]: at=info ...`); `since`:
        only those stamped at or after it (e.g. `since=ctx.released_at()`: what the running release did)."""
        session = self.api.post(app_path(app or self.app, "log-sessions"),
                                {"lines": num, "tail": False, "source": source, "dyno": dyno})
        lines = list(self.api.stream_lines(session["logplex_url"]))
        if since is None:
            return lines
        return [line for line in lines if (when := _stamp(line)) is not None and when >= since]

    def released_at(self, app: str | None = None) -> datetime:
        """When the app's current release was made (simulated time, as log lines are stamped)."""
        current = next(r for r in reversed(self.releases(app)) if r.get("current"))
        return parse_time(current["created_at"])

    def router_lines(self, app: str | None = None) -> list[dict[str, str]]:
        """The app's `heroku[router]` lines, each parsed into its fields."""
        return [parse_router_line(line.split("heroku[router]: ", 1)[1])
                for line in self.logs(source="heroku", app=app) if "heroku[router]: " in line]

    # the platform
    def dynos(self, app: str | None = None) -> list[dict[str, Any]]:
        return self.api.get(app_path(app or self.app, "dynos"))  # type: ignore[no-any-return]

    def wait_up(self, process: str = "web", count: int | None = None, app: str | None = None,
                timeout: float = 120.0) -> bool:
        """Whether `count` (default: the formation's quantity) `process` dynos are up within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            wanted = count
            if wanted is None:
                wanted = next((f["quantity"] for f in self.formation(app) if f["type"] == process), 0)
            up = [d for d in self.dynos(app) if d["type"] == process and d["state"] == "up"]
            if len(up) >= wanted:
                return True
            time.sleep(0.25)
        return False

    def wait_current(self, process: str = "web", app: str | None = None, timeout: float = 120.0) -> bool:
        """Whether every `process` dyno runs the current release and is up within `timeout` (after a deploy,
        config change or rollback: the old release's dynos are gone and the new ones answer)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = next(r["version"] for r in reversed(self.releases(app)) if r.get("current"))
            wanted = next((f["quantity"] for f in self.formation(app) if f["type"] == process), 0)
            dynos = [d for d in self.dynos(app) if d["type"] == process]
            if len(dynos) == wanted and all(d["state"] == "up" and (d.get("release") or {}).get("version")
                                            == current for d in dynos):
                return True
            time.sleep(0.25)
        return False

    def slug(self, slug_id: str, app: str | None = None) -> dict[str, Any]:
        """A slug of the app: its `size` (bytes, compressed), `commit`, `process_types`."""
        return self.api.get(app_path(app or self.app, "slugs", slug_id))  # type: ignore[no-any-return]

    def formation(self, app: str | None = None) -> list[dict[str, Any]]:
        return self.api.get(app_path(app or self.app, "formation"))  # type: ignore[no-any-return]

    def scale(self, app: str | None = None, **quantities: int) -> None:
        self.api.patch(app_path(app or self.app, "formation"),
                       {"updates": [{"type": t, "quantity": q} for t, q in quantities.items()]})

    def resize(self, app: str | None = None, **sizes: str) -> None:
        """`ps:resize web=standard-2x`: the process types' dyno size (their dynos restart on it)."""
        self.api.patch(app_path(app or self.app, "formation"),
                       {"updates": [{"type": t, "size": s} for t, s in sizes.items()]})

    def now(self) -> datetime:
        """The simulated clock's time now, as log lines are stamped (for `logs(since=ctx.now())`)."""
        return parse_time(self.api.get("/clock")["now"])

    def restart(self, target: str | None = None, app: str | None = None) -> None:
        path = app_path(app or self.app, "dynos", *([target] if target else []))
        self.api.delete(path)

    def warp(self, hours: float) -> dict[str, Any]:
        """The simulated clock moved on `hours` (daily cycling, crash cool-offs, schedules happen)."""
        return self.api.post("/clock/warp", {"seconds": int(hours * 3600)})  # type: ignore[no-any-return]

    def config(self, app: str | None = None) -> dict[str, str]:
        return self.api.get(app_path(app or self.app, "config-vars"))  # type: ignore[no-any-return]

    def config_set(self, app: str | None = None, **values: str | None) -> None:
        self.api.patch(app_path(app or self.app, "config-vars"), values)

    def releases(self, app: str | None = None) -> list[dict[str, Any]]:
        return self.api.get(app_path(app or self.app, "releases"))  # type: ignore[no-any-return]

    def addons(self, app: str | None = None) -> list[dict[str, Any]]:
        return self.api.get(app_path(app or self.app, "addons"))  # type: ignore[no-any-return]

    def exists(self, app: str | None = None) -> bool:
        try:
            self.api.get(app_path(app or self.app))
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def files(self, *names: str) -> Iterable[Path]:
        """The student's files in the checkout (for checks that read the code, e.g. a Procfile)."""
        return (self.checkout / name for name in names)

    def command(self, argv: list[str]) -> str:
        """A shell-quoted command line, for what the check tells the student to run."""
        return shlex.join(argv)
