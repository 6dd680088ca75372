"""Lab 14: memory quota — a leak grows a dyno past its quota (R14), then past twice it (R15 and SIGKILL)."""

from __future__ import annotations

import math
import time

from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab

LEAK_MB = 10.0  # what the flawed app keeps per request (a 10 MB report)
SAMPLE_WAIT = 1.2  # real seconds between load batches: the platform samples a dyno's memory every second


def check(ctx: CheckContext) -> CheckResult:
    ctx.say("Waiting for web.1...")
    if not ctx.wait_up(timeout=90):
        return CheckResult.undecided("web.1 is not up after 90 s: look at `herokusim ps` and check again.")
    since = ctx.released_at()
    quota = float(next(d for d in ctx.dynos() if d["type"] == "web").get("memory_quota_mb") or 512)
    # enough requests for a 10 MB-a-request leak to pass twice the quota, in batches small enough for the
    # once-a-second samples to see each step (R14 first, as on Heroku)
    total = math.ceil(quota * 2.2 / LEAK_MB)
    batch = max(1, int(quota * 0.45 / LEAK_MB))
    ctx.say(f"Sending {total} requests in batches of {batch}, watching the logs for R14 and R15 "
            f"(quota {quota:g} MB)...")
    sent = failed = 0
    seen: list[str] = []
    while sent < total:
        answers = ctx.load(min(batch, total - sent), concurrency=min(batch, 4))
        sent += len(answers)
        failed += sum(1 for a in answers if isinstance(a, Exception) or a.status_code != 200)
        time.sleep(SAMPLE_WAIT)
        seen = [line.split(": ", 1)[-1] for line in ctx.logs(source="heroku", since=since)
                if "Error R14" in line or "Error R15" in line]
        if any("R15" in line for line in seen):
            break
    if seen:
        first = next((line for line in seen if "R14" in line), seen[0])
        then = " — then Error R15 (Memory quota vastly exceeded) and SIGKILL" if any("R15" in s for s in seen) else ""
        return CheckResult.fail(f"After {sent} requests: {first}{then}",
                                "Memory that grows with every request is kept somewhere: what does the app "
                                "hold on to after answering? (A bigger dyno only delays it.)")
    if failed:
        return CheckResult.undecided(f"{failed} of {sent} requests failed without R14 or R15: check again.")
    return CheckResult.ok(f"{sent} requests since the release and no R14 or R15: memory stays under the "
                          f"{quota:g} MB quota.")


LAB = Lab(
    number=14,
    slug="memory-r14",
    title="Memory quota: R14 and R15",
    lesson=("A dyno has a memory quota: above it the platform logs `Error R14 (Memory quota exceeded)`, above "
            "twice it `Error R15 (Memory quota vastly exceeded)` and kills the dyno. A leak must be fixed, "
            "not outgrown."),
    task=("Send the app some traffic and watch `herokusim logs --tail`: what happens to web.1's memory?\n"
          "Find what app.py holds on to after each request and stop it; push, and run `herokusim labs:check`."),
    check=check,
    check_describes=("Sends the app enough requests to leak past twice its dyno's quota (10 MB a request), in "
                     "batches 1.2 s apart; fails with the first `Error R14 (Memory quota "
                     "exceeded)` line (and says when R15 followed) logged since the release; passes when the "
                     "whole load is served with no R14 or R15."),
)
