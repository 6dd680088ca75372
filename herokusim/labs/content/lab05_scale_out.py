"""Lab 5: scale out, not up — a bigger dyno does not serve more requests a second; more dynos do."""

from __future__ import annotations

from typing import Any

from herokusim.client import app_path
from herokusim.labs.content.capacity import Capacity, measure, times
from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab

RATE = 8  # requests per second the report page must serve (the fixture's README)


def check(ctx: CheckContext) -> CheckResult:
    found = measure(ctx)
    if not isinstance(found, Capacity):
        return CheckResult.undecided(f"Could not measure the app's throughput: {found}")
    dyno, burst = found.evidence
    formation = f"{found.dynos} {found.size} dyno(s)"
    if found.side_by_side:
        return CheckResult.ok(f"{dyno} served {len(burst)} requests at once side by side ({times(burst)}): "
                              f"{formation} serve more than one request at a time each.")
    rate = (f"{formation} × 1000 ÷ {found.service_ms:.0f}ms = {found.throughput:.1f} req/s "
            f"({dyno} served {len(burst)} requests sent together one after another: {times(burst)})")
    if found.throughput >= RATE:
        return CheckResult.ok(f"{rate}: at least the {RATE} req/s needed.")
    return CheckResult.fail(
        f"{rate}: short of the {RATE} req/s needed. On {found.size} one request still takes "
        f"{found.service_ms:.0f}ms.",
        "The size did not make a request faster, and each dyno still serves one at a time. What else raises "
        "requests per second?")


def solve(state: Any, settings: Any, ctx: CheckContext) -> None:
    """The fix as a student makes it: `ps:scale web=2:standard-2x` (8 req/s ÷ 5 req/s a dyno, rounded up)."""
    ctx.api.patch(app_path(ctx.app, "formation"),
                  {"updates": [{"type": "web", "quantity": 2, "size": "standard-2x"}]})


LAB = Lab(
    number=5,
    slug="scale-out",
    title="Scale out, not up",
    lesson=("An app that serves one request at a time per dyno gets no more requests a second from a bigger "
            "dyno: throughput grows with the number of dynos, not their size."),
    task=(f"The report page must serve {RATE} requests a second; it runs on one performance-l dyno and can't.\n"
          "Compare the router's service= times on two sizes (`herokusim ps:resize`), then on two quantities.\n"
          "Give the app the throughput it needs, then `herokusim labs:check`."),
    check=check,
    solve=solve,
    formation={"web": 1},
    sizes={"web": "performance-l"},
    check_describes=(
        "Measures through router lines only: the median service= of 5 requests sent one at a time, then a burst "
        "of 2 × dynos + 1 requests sent at once (so some dyno gets 3 whatever the random routing does) to see "
        f"whether a dyno serves one request at a time. Throughput = dynos × 1000 ÷ median ms; passes at "
        f"≥ {RATE} req/s (2 dynos of any size) or when dynos serve requests side by side; fails on one dyno of "
        "any size, showing the size and the unchanged service time."),
)
