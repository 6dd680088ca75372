"""Lab 8: crash loops — a dyno whose process exits is crashed, restarted, crashed again on a growing cool-off."""

from __future__ import annotations

import secrets
import time
from typing import Any

from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab

WAIT = 90.0  # real seconds for web.1 to come up or crash
STABLE = 3.0  # real seconds web.1 must stay up, with no crash, to pass


def _crashes(ctx: CheckContext, since: Any) -> list[str]:
    return [line.split(": ", 1)[-1] for line in ctx.logs(source="heroku", dyno="web.1", since=since)
            if line.endswith(" to crashed")]


def check(ctx: CheckContext) -> CheckResult:
    since = ctx.released_at()  # what the running release did, not an earlier one
    ctx.say("Watching web.1 since the current release...")
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        crashes = _crashes(ctx, since)
        web1 = next((d for d in ctx.dynos() if d["name"] == "web.1"), None)
        if crashes:
            state = web1["state"] if web1 else "gone"
            why = [line.split(": ", 1)[-1] for line in ctx.logs(dyno="web.1", since=since)
                   if "app[web.1]" in line and "Error" in line]
            return CheckResult.fail(
                f"web.1: {crashes[-1]} ({len(crashes)} crash(es) since the release; `ps` says {state})"
                + (f"; the app said `{why[-1]}`" if why else ""),
                "Read the app's last words in `herokusim logs`: what does it need at start that this app does "
                "not have? Give it that without changing the code.")
        if web1 is not None and web1["state"] == "up":
            time.sleep(STABLE)
            if not _crashes(ctx, since) and any(d["name"] == "web.1" and d["state"] == "up" for d in ctx.dynos()):
                return CheckResult.ok("web.1 is up with no crash since the current release.")
        time.sleep(0.5)
    return CheckResult.undecided("web.1 neither came up nor crashed in 90 s: is the daemon busy? Check again.")


def solve(state: Any, settings: Any, ctx: CheckContext) -> None:
    """The fix as a student makes it: `config:set SECRET_KEY=...` (a new release; the dynos restart on it)."""
    ctx.config_set(SECRET_KEY=secrets.token_hex(32))


LAB = Lab(
    number=8,
    slug="crash-loop",
    title="Crash loops",
    lesson=("A dyno whose process exits is crashed: Heroku restarts it at once, then after growing cool-offs "
            "(20, 40, 60 minutes...). A config change makes a new release and the count starts over."),
    task=("The app deploys, then never answers. Look at `herokusim ps` and `herokusim logs`; warp the clock "
          "(`herokusim clock:warp 1h`) and look at `ps` again.\n"
          "Make the app start without changing its code, then run `herokusim labs:check`."),
    check=check,
    solve=solve,
    check_describes=("Watches web.1 since the current release (up to 90 s): fails with the `State changed from "
                     "... to crashed` line, the crash count, the `ps` state and the app's last error; passes when "
                     "web.1 is up and stays up 3 s with no crash since that release."),
)
