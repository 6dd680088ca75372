"""Lab 4: request queuing and capacity — one request at a time on too few dynos makes requests wait their turn."""

from __future__ import annotations

import math
from typing import Any

from herokusim.labs.content.capacity import Capacity, measure, times
from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab

RATE = 12  # requests per second the launch brings (the fixture's README)
PAGE_MS = 200  # what one page costs (the fixture's WORK_SECONDS)


def check(ctx: CheckContext) -> CheckResult:
    found = measure(ctx)
    if not isinstance(found, Capacity):
        return CheckResult.undecided(f"Could not measure the app's capacity: {found}")
    dyno, burst = found.evidence
    if found.side_by_side:
        return CheckResult.ok(f"{dyno} served {len(burst)} requests at once side by side ({times(burst)}, "
                              f"one alone takes {found.service_ms:.0f}ms): no queue on the dynos.")
    needed = RATE / found.per_dyno
    seen = (f"{dyno} served {len(burst)} requests sent together one after another ({times(burst)}; "
            f"one alone takes {found.service_ms:.0f}ms)")
    if found.dynos >= needed:
        return CheckResult.ok(f"{seen}, but {found.dynos} dynos × 1000 ÷ {found.service_ms:.0f}ms = "
                              f"{found.throughput:.1f} req/s cover the {RATE} req/s expected: the queue stays flat.")
    return CheckResult.fail(
        f"{seen}: a queue. {found.dynos} web dyno(s) × 1000 ÷ {found.service_ms:.0f}ms = "
        f"{found.throughput:.1f} req/s, short of the {RATE} req/s expected: requests would wait ever longer.",
        "One dyno serving one request at a time handles 1000 ÷ (mean ms) requests a second: how many dynos do "
        f"{RATE} req/s need? (Or let each dyno serve requests side by side.)")


def solve(state: Any, settings: Any, ctx: CheckContext) -> None:
    """The fix as a student makes it: dynos = req/s ÷ (1000 ÷ mean ms), rounded up."""
    ctx.scale(web=math.ceil(RATE / (1000 / PAGE_MS)))


LAB = Lab(
    number=4,
    slug="request-queuing",
    title="Request queuing and capacity",
    lesson=("A dyno that serves one request at a time makes the others wait: the wait shows in the router's "
            "service= times. Capacity is dynos × 1000 ÷ (mean ms) requests a second."),
    task=(f"The shop expects {RATE} requests a second; each page takes about {PAGE_MS} ms.\n"
          "Send a few requests at once and compare their `service=` in `herokusim logs` with a lone one's.\n"
          "Give the app the capacity it needs (dynos = req/s ÷ (1000 ÷ mean ms)), then `herokusim labs:check`."),
    check=check,
    solve=solve,
    check_describes=(
        "Measures, through router lines only: the median service= of 5 requests sent one at a time, then a burst "
        "of 2 × dynos + 1 requests sent at once (so some dyno gets 3 of them whatever the random routing does). "
        f"Passes when the dynos serve requests side by side (a threaded server), or when dynos ≥ {RATE} req/s ÷ "
        "(1000 ÷ median ms); fails showing the queued service times and the capacity in req/s."),
)
