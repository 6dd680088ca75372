"""Lab 13: buildpacks — a command the app needs is not in the slug until a buildpack installs it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from herokusim.client import app_path
from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab

if TYPE_CHECKING:
    from herokusim.config import Settings
    from herokusim.labs.runner import LabState

BOOT_WAIT = 90.0  # real seconds to wait for web.1 to come up or crash
TOOL_SAYS = "Message of the day:"  # what `motd` prints


def check(ctx: CheckContext) -> CheckResult:
    ctx.say("Waiting for web.1 (the Procfile runs `motd` before the app)...")
    since = ctx.released_at()
    deadline = time.monotonic() + BOOT_WAIT
    while time.monotonic() < deadline:
        if any(d["name"] == "web.1" and d["state"] == "up" for d in ctx.dynos()):
            break
        lines = ctx.logs(since=since)
        missing = [line for line in lines if "command not found" in line]
        if missing and any("Process exited with status 127" in line for line in lines):
            return CheckResult.fail(missing[-1].split(": ", 1)[-1] + " (web.1 exited with status 127)",
                                    "The slug holds only what the build put there: which buildpack installs "
                                    "that command, and puts it on PATH?")
        time.sleep(1)
    else:
        return CheckResult.undecided("web.1 neither came up nor crashed in 90 s: is the daemon busy? Check again.")
    ctx.say("web.1 is up; sending a request through the router...")
    response = ctx.get("/")
    if response.status_code != 200 or TOOL_SAYS not in response.text:
        return CheckResult.fail(f"GET / answered HTTP {response.status_code}: {response.text.strip()[:80]!r}",
                                "The page should show what the `motd` tool printed when the dyno started.")
    return CheckResult.ok(f"web.1 ran motd from the slug; GET / shows {response.text.strip()!r}")


def solve(state: LabState, settings: Settings, ctx: CheckContext) -> None:
    """buildpacks:set the checkout's motd-buildpack/, then heroku/python after it."""
    updates = [{"buildpack": str(state.checkout / "motd-buildpack")}, {"buildpack": "heroku/python"}]
    ctx.api.request("PUT", app_path(ctx.app, "buildpack-installations"), {"updates": updates})


LAB = Lab(
    number=13,
    slug="buildpacks",
    title="Buildpacks",
    lesson=("A slug holds only what the build put there: a binary the app needs is installed by a buildpack, "
            "which can be a small directory of your own (bin/detect, bin/compile, a .profile.d script for PATH)."),
    task=("The Procfile runs the `motd` tool before the app; deployed, web.1 never comes up.\n"
          "Read `herokusim logs`: then write a buildpack in the repo that installs `motd` into the slug and "
          "puts it on PATH,\nset it before heroku/python (`buildpacks:set`, `buildpacks:add`), push, and run "
          "`herokusim labs:check`."),
    check=check,
    check_describes=("Waits up to 90 s for web.1: fails with the app's `command not found` line when the "
                     "process exits with status 127; passes when web.1 is up and GET / shows the tool's "
                     "output (`Message of the day: ...`)."),
    solve=solve,
)
