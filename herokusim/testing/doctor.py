"""testing/doctor: `herokusim doctor` — a Heroku-readiness report of an app directory in two passes.

The static pass is testing/rules.py (pure, no daemon). The dynamic pass (`deploy=True`) is a client of the
running daemon like a lab's check: it creates a throwaway app `doctor-<random>`, pushes the app's files to it
(labs/runner.py's git with the daemon's credentials), then watches through labs/context.py's CheckContext: the
boot against R10, an answer on the path, SIGTERM against R12 on a restart, a daily cycle (the clock warped),
memory under a short load (R14/R15), a slow path against H12, quoting the heroku and router lines that show
each. The app is destroyed after, whatever happens (Ctrl-C included).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from herokusim.cli import gitremote
from herokusim.client import ApiError, Client, DaemonNotRunning, app_path, parse_time
from herokusim.config import Settings
from herokusim.labs.context import CheckContext, parse_router_line
from herokusim.labs.runner import GIT_TIMEOUT, REMOTE, LabError, git, settings_env
from herokusim.testing.rules import SEVERITIES, AppTree, Finding, static_findings

Say = Callable[[str], None]
CYCLE_WARP_HOURS = 28  # past a daily cycle's 24 h + 216 min
MEMORY_WAIT = 3.0  # real seconds after the load for an R14 / R15 line
SETTLE_SECONDS = 60.0  # real seconds beyond the boot timeout to wait for a dyno's state to settle


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        return 1 if any(f.severity == "error" for f in self.findings) else 0

    def sorted(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: SEVERITIES.index(f.severity))


@dataclass(frozen=True)
class DeployOptions:
    path: str = "/"
    load: int = 0
    slow_path: str | None = None


def diagnose(root: Path, settings: Settings | None = None, deploy: bool = False,
             options: DeployOptions | None = None, say: Say = lambda line: None) -> Report:
    """The report on the app at `root`: the static rules, then (`deploy`) the dynamic pass on `settings`'s
    daemon."""
    report = Report(static_findings(root))
    if deploy:
        assert settings is not None
        report.findings += Deployment(root, settings, report.findings, options or DeployOptions(), say).run()
    return report


def _stamp(line: str) -> datetime | None:
    try:
        return parse_time(line.split(" ", 1)[0])
    except ValueError:
        return None


def copy_app(root: Path, dest: Path) -> str:
    """The app's files into `dest` (a fresh dir): `git archive` of HEAD when `root` is a clean checkout, else
    the files a push would send (AppTree). Says which."""
    tree = AppTree(root)
    if tree.tracked is not None:
        prefix = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-prefix"], capture_output=True,
                                text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "."], capture_output=True,
                               text=True, check=False).stdout.strip()
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, check=False).stdout.strip()
        if not dirty and top:  # from the top: in a subdirectory git archive keeps only that subdirectory's paths
            archive = subprocess.run(["git", "-C", top, "archive", "--format=tar", f"HEAD:{prefix}"],
                                     capture_output=True, check=False)
            if archive.returncode == 0:
                subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
                return "git archive of HEAD"
    for rel in tree.files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest / rel)
    return "the directory's files as they are" if tree.tracked is None else "the checkout's files, uncommitted " \
        "changes included"


class Deployment:
    """One dynamic pass: the throwaway app's life and what it showed."""

    def __init__(self, root: Path, settings: Settings, static: list[Finding], options: DeployOptions,
                 say: Say) -> None:
        self.root = root
        self.settings = settings
        self.static = static
        self.options = options
        self.say = say
        self.name = f"doctor-{secrets.token_hex(3)}"
        self.findings: list[Finding] = []

    def find(self, severity: str, rule: str, where: str, seen: str, why: str, fix: str) -> None:
        self.findings.append(Finding(severity, rule, where, seen, why, fix))

    def run(self) -> list[Finding]:
        api = Client(self.settings)
        try:
            try:
                api.post("/apps", {"name": self.name})
            except DaemonNotRunning:
                self.find("error", "deploy", "daemon", "the herokusim daemon is not running",
                          "The dynamic pass deploys the app to the running daemon.",
                          "Start it with `herokusim up` (or leave out --deploy).")
                return self.findings
            self.say(f"Creating {self.name}... done")
            ctx = CheckContext(self.settings, {"app": self.name}, self.root, self.say)
            try:
                self.checks(ctx)
            except (ApiError, httpx.HTTPError, OSError) as exc:
                self.find("error", "deploy", "daemon", f"the dynamic pass stopped: {exc}",
                          "The daemon or the app stopped answering.", "Look at `herokusim logs` and try again.")
            finally:
                ctx.close()
        finally:
            try:
                api.delete(app_path(self.name))
                self.say(f"Destroying {self.name}... done")
            except (ApiError, httpx.HTTPError):
                self.say(f"Could not destroy {self.name}: remove it with `herokusim apps:destroy {self.name}`")
            api.close()
        return self.findings

    # --- the steps ------------------------------------------------------------------------------------------

    def checks(self, ctx: CheckContext) -> None:
        mark = ctx.now()
        if not self.push():
            return
        if not any(f["type"] == "web" and f["quantity"] > 0 for f in ctx.formation()):
            self.say("No web process: the HTTP checks are left out.")
            return
        if not self.boot(ctx, mark):
            return
        if not self.answers(ctx, "after the deploy"):
            return
        self.sigterm(ctx)
        self.cycle(ctx)
        if self.options.load:
            self.memory(ctx)
        if self.options.slow_path:
            self.slow(ctx)

    def push(self) -> bool:
        with tempfile.TemporaryDirectory(prefix="herokusim-doctor-") as tmp:
            dest = Path(tmp)
            how = copy_app(self.root, dest)
            self.say(f"Deploying {self.root} to {self.name} ({how})...")
            try:
                git(self.settings, dest, "init", "-q", "-b", "main")
                git(self.settings, dest, "add", "-A")
                git(self.settings, dest, "-c", "user.name=doctor", "-c", "user.email=doctor@herokusim.local",
                    "commit", "-q", "--allow-empty", "-m", "herokusim doctor")
                gitremote.add_remote(REMOTE, self.settings.git_url(self.name), cwd=dest)
            except LabError as exc:
                self.find("error", "deploy", "git", str(exc), "The app's files could not be committed for the "
                          "push.", "Check that git works here (`git --version`).")
                return False
            done = subprocess.run(["git", "push", REMOTE, "HEAD:refs/heads/main"], cwd=dest,
                                  env=settings_env(self.settings), capture_output=True, text=True,
                                  timeout=GIT_TIMEOUT, check=False)
            if done.returncode != 0:
                said = [line for line in (done.stderr + done.stdout).splitlines() if line.startswith("remote:")]
                said = said[-12:] or (done.stderr or done.stdout).strip().splitlines()[-3:]
                self.find("error", "deploy", "git push", "\n".join(said), "Heroku rejects a push whose build fails: "
                          "nothing is released.", "Run `git push herokusim main` to read the whole build output "
                          "and fix what it names.")
                return False
        return True

    def heroku_lines(self, ctx: CheckContext, since: datetime, dyno: str | None = None) -> list[str]:
        return [line for line in ctx.logs(source="heroku", dyno=dyno)
                if (when := _stamp(line)) is not None and when >= since]

    def boot(self, ctx: CheckContext, mark: datetime) -> bool:
        """web.1's first boot: up (how long it took against R10's limit), or R10, or a crash."""
        limit = self.settings.boot_timeout
        deadline = time.monotonic() + limit + SETTLE_SECONDS
        while time.monotonic() < deadline:
            lines = self.heroku_lines(ctx, mark, "web.1")
            r10 = next((line for line in lines if "Error R10" in line), None)
            if r10 is not None:
                cause = next((f for f in self.static if f.rule == "port"), None)
                seen = r10 + (f"\ncause (static pass): {cause.where}: {cause.seen}" if cause else "")
                self.find("error", "boot", "log", seen, f"A web dyno must accept connections on $PORT within "
                          f"{limit:g} s of launch: Heroku kills it (R10), marks it crashed and the router answers "
                          "H10 / H20.", cause.fix if cause else "Bind 0.0.0.0:$PORT early, before slow work "
                          "(migrations, warming caches) that can run after the bind or in a release phase.")
                return False
            crashed = next((line for line in lines if "to crashed" in line), None)
            if crashed is not None:
                exits = [line for line in lines if "Process exited" in line]
                out = [line for line in ctx.logs(source="app", dyno="web.1") if (w := _stamp(line)) and w >= mark]
                self.find("error", "boot", "log", "\n".join([*exits[-1:], crashed, *out[-5:]]), "A web dyno that "
                          "exits is crashed: Heroku restarts it, then after a cool-off (20 min and more), and the "
                          "router answers H10 meanwhile.", "Read the app's output above (`herokusim logs "
                          "--dyno web.1`): run the command locally with `herokusim local`.")
                return False
            starting = next((line for line in lines if "Starting process" in line), None)
            up = next((line for line in lines if "State changed from starting to up" in line), None)
            if up is not None:
                took = (_stamp(up) - _stamp(starting)).total_seconds() if starting else 0.0  # type: ignore[operator]
                self.say(f"web.1 booted in {took:.1f} s (R10 at {limit:g} s)")
                if took > limit / 2:
                    self.find("warning", "boot", "log", f"{starting}\n{up}", f"web.1 took {took:.1f} s to bind "
                              f"$PORT: R10 kills a web dyno at {limit:g} s, and a slower day gets there.",
                              "Bind $PORT first; move migrations to a release phase and warm-ups after the bind.")
                return True
            time.sleep(0.5)
        self.find("error", "boot", "log", f"web.1 neither up nor crashed within {limit + SETTLE_SECONDS:g} s",
                  "A web dyno that never binds $PORT meets R10.", "Look at `herokusim logs --dyno web.1`.")
        return False

    def answers(self, ctx: CheckContext, when: str) -> bool:
        path = self.options.path
        try:
            response = ctx.get(path, timeout=self.settings.router_timeout + 10)
        except httpx.HTTPError as exc:
            self.find("error", "http", f"GET {path}", f"{when}: no answer ({exc})", "The router could not reach "
                      "the app.", "Look at `herokusim logs`.")
            return False
        if response.status_code == 200:
            self.say(f"GET {path} {when}: 200")
            return True
        line = self.router_line(ctx, path)
        self.find("error", "http", f"GET {path}", f"{when}: {response.status_code}" + (f"\n{line}" if line else ""),
                  f"The app must answer {path} on a healthy dyno; the router line says which side failed "
                  "(an H-code: the platform's view of the dyno).", "Open it locally with `herokusim local` and read "
                  "`herokusim logs`.")
        return False

    def router_line(self, ctx: CheckContext, path: str) -> str | None:
        lines = [line for line in ctx.logs(source="heroku", dyno="router")
                 if parse_router_line(line.split("heroku[router]: ", 1)[-1]).get("path") == path]
        return lines[-1] if lines else None

    def sigterm(self, ctx: CheckContext) -> None:
        """web.1 restarted: exit on SIGTERM (143) or R12 after the grace; then up again and answering."""
        grace = self.settings.stop_grace
        mark = ctx.now()
        ctx.restart("web.1")
        deadline = time.monotonic() + grace + SETTLE_SECONDS
        outcome = None
        while time.monotonic() < deadline and outcome is None:
            lines = self.heroku_lines(ctx, mark, "web.1")
            outcome = next((line for line in lines if "Error R12" in line or "Process exited" in line), None)
            if outcome is None:
                time.sleep(0.5)
        if outcome is None:
            self.find("warning", "sigterm", "log", "no exit of web.1 logged after `ps:restart web.1`",
                      "Heroku stops dynos with SIGTERM on every restart, deploy and daily cycle.",
                      "Look at `herokusim logs --dyno web.1`.")
        elif "Error R12" in outcome:
            self.find("warning", "sigterm", "log", outcome, f"On SIGTERM Heroku waits {grace:g} s, then kills the "
                      "process (SIGKILL): requests in flight and unfinished work are lost on every restart, deploy "
                      "and daily cycle.", "Handle SIGTERM: stop accepting, finish or hand back work, exit "
                      "(`signal.signal(signal.SIGTERM, ...)`; gunicorn and most servers do it).")
        else:
            self.say(f"web.1 on SIGTERM: {outcome.split(': ', 1)[-1]}")
        if ctx.wait_up(timeout=self.settings.boot_timeout + SETTLE_SECONDS):
            self.answers(ctx, "after a restart")
        else:
            self.find("error", "restart", "log", "\n".join(self.heroku_lines(ctx, mark, "web.1")[-6:]),
                      "Dynos restart on every deploy, config change and daily: the app must boot again.",
                      "Read `herokusim logs --dyno web.1`.")

    def cycle(self, ctx: CheckContext) -> None:
        """A day warped past the daily cycle: web.1 cycled, up again, answering."""
        mark = ctx.now()
        self.say(f"Warping {CYCLE_WARP_HOURS} h (the daily cycle)...")
        ctx.warp(CYCLE_WARP_HOURS)
        deadline = time.monotonic() + self.settings.stop_grace + SETTLE_SECONDS
        cycled = None
        while time.monotonic() < deadline and cycled is None:
            cycled = next((line for line in self.heroku_lines(ctx, mark, "web.1") if "Cycling" in line), None)
            if cycled is None:
                time.sleep(0.5)
        if cycled is None:
            self.find("warning", "cycle", "log", f"no `Cycling` of web.1 after {CYCLE_WARP_HOURS} h",
                      "Heroku restarts every dyno once a day.", "Look at `herokusim logs --dyno web.1`.")
            return
        if ctx.wait_up(timeout=self.settings.stop_grace + self.settings.boot_timeout + SETTLE_SECONDS):
            self.answers(ctx, "after the daily cycle")
        else:
            self.find("error", "cycle", "log", "\n".join([cycled, *self.heroku_lines(ctx, mark, "web.1")[-4:]]),
                      "Every dyno is cycled daily: an app that does not come back is down until someone "
                      "restarts it.", "Read `herokusim logs --dyno web.1`.")

    def memory(self, ctx: CheckContext) -> None:
        mark = ctx.now()
        count = self.options.load
        self.say(f"{count} requests to {self.options.path}...")
        answers = ctx.load(count, self.options.path, timeout=self.settings.router_timeout + 10)
        failed = [a for a in answers if not isinstance(a, httpx.Response) or a.status_code >= 500]
        time.sleep(MEMORY_WAIT)  # the dyno manager samples memory every second
        lines = self.heroku_lines(ctx, mark)
        for code, severity, what in (("R15", "error", "vastly exceeded: the dyno is killed"),
                                     ("R14", "warning", "exceeded: the dyno swaps and slows down")):
            hits = [line for line in lines if f"Error {code}" in line]
            if hits:
                before = lines[:lines.index(hits[0])]
                quota = next((line for line in reversed(before) if "mem=" in line), "")
                self.find(severity, "memory", "log", "\n".join(filter(None, [quota, hits[0]])),
                          f"Over the dyno size's memory quota ({self.settings.memory_quota_mb:g} MB for basic / "
                          f"standard-1X) Heroku logs {code}: memory quota {what}.",
                          "Find what grows (caches without bounds, whole files in memory); use fewer workers "
                          "(WEB_CONCURRENCY) or a bigger size (`ps:resize web=standard-2x`).")
                break
        if failed:
            errors = [line for line in lines if "heroku[router]: at=error" in line]
            self.find("error", "load", f"GET {self.options.path}", f"{len(failed)} of {count} requests failed"
                      + (f"\n{errors[0]}" if errors else ""), "Under load the router answers H-codes for a dyno "
                      "that is too slow, crashed or refuses connections.", "Read the router lines' code and "
                      "service times (`herokusim logs --source heroku --dyno router`).")
        else:
            self.say(f"{count} requests: all answered")

    def slow(self, ctx: CheckContext) -> None:
        path = self.options.slow_path
        assert path is not None
        limit = self.settings.router_timeout
        self.say(f"GET {path} (H12 at {limit:g} s)...")
        try:
            ctx.get(path, timeout=limit + 30)
        except httpx.HTTPError:
            pass
        line = self.router_line(ctx, path)
        fields = parse_router_line(line.split("heroku[router]: ", 1)[-1]) if line else {}
        if fields.get("code") == "H12":
            self.find("error", "h12", f"GET {path}", line or "", f"The router gives a request {limit:g} s to its "
                      "first byte, then answers 503 H12 while the dyno keeps working on it.", "Answer at once and "
                      "do the work in a worker dyno (a queue), or stream a first byte early.")
            return
        service = fields.get("service", "").removesuffix("ms")
        if service.isdigit() and int(service) > limit * 1000 / 2:
            self.find("warning", "h12", f"GET {path}", line or "", f"{int(service) / 1000:.1f} s of service: a "
                      f"slower day crosses the router's {limit:g} s and gets H12.", "Move the slow work to a worker "
                      "dyno.")
        elif line:
            self.say(f"GET {path}: {fields.get('code') or fields.get('status')} in {fields.get('service')}")
