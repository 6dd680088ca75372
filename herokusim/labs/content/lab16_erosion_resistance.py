"""Lab 16: erosion resistance — every dyno is cycled once a simulated day, on the same release and slug."""

from __future__ import annotations

from typing import Any

from herokusim.config import CYCLE_HOURS, CYCLE_JITTER_MINUTES
from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab

# a day is sure to have passed for every dyno: 24 h plus the most jitter, rounded up
A_DAY_HOURS = int(CYCLE_HOURS + CYCLE_JITTER_MINUTES / 60) + 1


def check(ctx: CheckContext) -> CheckResult:
    current = next(r for r in reversed(ctx.releases()) if r.get("current"))
    since = ctx.released_at()
    ctx.say(f"Looking for a daily cycle in the logs since v{current['version']} was released...")
    cycles = [line for line in ctx.logs(source="heroku", since=since)
              if line.endswith(": Cycling") and "heroku[web." in line]
    if not cycles:
        when = since.strftime("%Y-%m-%d %H:%M")
        return CheckResult.fail(f"No web dyno has cycled since v{current['version']} was released ({when}, "
                                "simulated time).",
                                "A dyno is cycled about once a day. How do you make a day pass on herokusim?")
    ctx.say("Waiting for the web dynos to be up again...")
    if not ctx.wait_current():
        return CheckResult.undecided("The web dynos are not back up yet after their cycle: check again.")
    return CheckResult.ok(f"{cycles[0].split(' ', 1)[1]} at {cycles[0].split(' ', 1)[0]} — and the app still runs "
                          f"v{current['version']} (slug {current['slug']['id'][:8]}): a fresh dyno, the same code.")


def solve(state: Any, settings: Any, ctx: CheckContext) -> None:
    """Nothing to fix: deploy what is committed (the push after this finds nothing new), let a day pass."""
    from herokusim.labs import runner

    runner.push(state, settings, say=lambda line: None)
    ctx.wait_current()  # the dynos of the release just made have started: their day begins now
    ctx.warp(A_DAY_HOURS)
    ctx.wait_current()


LAB = Lab(
    number=16,
    slug="erosion-resistance",
    title="Erosion resistance",
    lesson=("Every dyno is restarted about once a day from the same slug, so nothing a process accumulates "
            "(leaked memory, local files, a wedged state) outlives a day: there is nothing to fix, only to see."),
    task=("Nothing is wrong with this app. Note when web.1 started (`herokusim ps`), then let a simulated day\n"
          f"pass: `herokusim clock:warp {A_DAY_HOURS}h`. Read `herokusim logs` and `herokusim releases`: what\n"
          "happened to web.1, and what did not change? Then run `herokusim labs:check`."),
    check=check,
    solve=solve,
    check_describes=("Reads the platform's log lines since the current release was made: fails while no web "
                     "dyno has logged `Cycling`; passes once one has (the release, and so the slug, unchanged) "
                     "and the web dynos are up again on that release."),
)
