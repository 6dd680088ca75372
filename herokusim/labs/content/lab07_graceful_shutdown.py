"""Lab 7: graceful shutdown and R12 — a dyno that ignores SIGTERM is killed 30 s later with SIGKILL."""

from __future__ import annotations

import time

from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab

STOP_WAIT = 60.0  # real seconds to watch the old web.1 stop: Heroku's grace is 30 s
OUTCOMES = ("Error R12 (Exit timeout)", "Process exited with status")


def _stopping(lines: list[str]) -> bool:
    """Whether a dyno told to stop (SIGTERM) has not exited yet."""
    messages = [line.split(": ", 1)[-1] for line in lines]
    return sum(m.startswith("Stopping all processes with SIGTERM") for m in messages) > \
        sum(m.startswith("Process exited with status") for m in messages)


def check(ctx: CheckContext) -> CheckResult:
    if not ctx.wait_up("web", count=1, timeout=120):
        return CheckResult.undecided("web.1 did not come up within 2 minutes: look at `herokusim ps`, then "
                                     "check again.")
    # a deploy's old web.1 may still be in its grace period: its R12 would be the old code's, not this one's
    current = next(r["version"] for r in ctx.releases() if r.get("current"))
    released, deadline = ctx.released_at(), time.monotonic() + STOP_WAIT
    while time.monotonic() < deadline and not any(
            d["name"] == "web.1" and d["release"]["version"] == current and d["state"] == "up" for d in ctx.dynos()):
        time.sleep(0.5)
    time.sleep(1)  # the replaced dyno's SIGTERM line is logged as its stop begins
    while time.monotonic() < deadline and _stopping(ctx.logs(source="heroku", dyno="web.1", since=released)):
        ctx.say("Waiting for the previous web.1 to finish stopping...")
        time.sleep(1)
    since = ctx.now()
    ctx.say("Restarting web.1 (herokusim ps:restart web.1) and watching how the old one stops...")
    ctx.restart("web.1")
    deadline = time.monotonic() + STOP_WAIT
    while time.monotonic() < deadline:
        lines = [line.split(": ", 1)[-1] for line in ctx.logs(source="heroku", dyno="web.1", since=since)]
        sigterm = [n for n, line in enumerate(lines) if line.startswith("Stopping all processes with SIGTERM")]
        # what followed the restart's SIGTERM first: the R12 line, or the process's exit
        outcome = next((line for line in lines[sigterm[-1]:] if line.startswith(OUTCOMES)), None) \
            if sigterm else None
        if outcome is not None and outcome.startswith("Error R12"):
            return CheckResult.fail(
                f"{outcome}; then `Stopping remaining processes with SIGKILL`.",
                "The platform sends SIGTERM and waits 30 s. What does app.py do when SIGTERM arrives?")
        if outcome is not None:
            return CheckResult.ok(f"The old web.1 stopped on SIGTERM: `{outcome}`, no R12.")
        time.sleep(0.5)
    return CheckResult.undecided("The old web.1 neither exited nor hit R12 within 60 s: is the daemon busy? "
                                 "Check again.")


LAB = Lab(
    number=7,
    slug="graceful-shutdown",
    title="Graceful shutdown and R12",
    lesson=("Dynos are stopped on every deploy, restart and daily cycle: SIGTERM first, SIGKILL 30 seconds "
            "later. An app must handle SIGTERM and exit in time."),
    task=("Restart the app (`herokusim ps:restart`) and watch `herokusim logs` for 30 seconds.\n"
          "Make the app stop when the platform asks it to, push, and run `herokusim labs:check`."),
    check=check,
    check_describes=("Restarts web.1 and reads the old dyno's platform lines: fails with the `Error R12 (Exit "
                     "timeout)` line when it outlives the grace period (30 s on Heroku) and is SIGKILLed; passes "
                     "when it exits on SIGTERM (`Process exited with status 143`) without R12."),
)
