"""Lab 3: long requests and H12 — the router gives up on a request after 30 s; slow work belongs in a worker."""

from __future__ import annotations

from typing import Any

from herokusim.labs import runner
from herokusim.labs.context import CheckContext, parse_router_line
from herokusim.labs.lab import CheckResult, Lab

REQUESTS = 5  # a small load, all at once
PATH = "/report"


def router_lines(ctx: CheckContext, path: str) -> list[tuple[str, dict[str, str]]]:
    """The router lines (raw message, fields) of the running release for requests to `path`."""
    found = []
    for line in ctx.logs(source="heroku", since=ctx.released_at()):
        if "heroku[router]: " in line:
            message = line.split("heroku[router]: ", 1)[1]
            fields = parse_router_line(message)
            if fields.get("path", "").split("?")[0] == path:
                found.append((message, fields))
    return found


def check(ctx: CheckContext) -> CheckResult:
    if not ctx.wait_up("web", timeout=90):
        return CheckResult.undecided("web.1 is not up yet: look at `herokusim ps`, then check again.")
    ctx.say(f"Sending {REQUESTS} requests to GET {PATH} at once (the router waits up to 30 s for each)...")
    answers = ctx.load(REQUESTS, PATH, concurrency=REQUESTS, timeout=ctx.settings.router_timeout + 30)
    lines = router_lines(ctx, PATH)
    h12 = [message for message, fields in lines if fields.get("code") == "H12"]
    if h12:
        return CheckResult.fail(f"{len(h12)} of {REQUESTS} requests timed out: {h12[-1]}",
                                "The router waits 30 s for a response, and the dyno carries on working after it "
                                "gave up. Which process could do the slow part while the request answers at once?")
    failed = [a for a in answers if isinstance(a, Exception) or a.status_code >= 500]
    if failed:
        first: Any = failed[0]
        seen = str(first) if isinstance(first, Exception) else f"HTTP {first.status_code}"
        return CheckResult.fail(f"{len(failed)} of {REQUESTS} requests to {PATH} failed ({seen})",
                                "Look at `herokusim logs`: what does the web dyno say?")
    if len(lines) < REQUESTS:
        return CheckResult.undecided(f"Only {len(lines)} router lines for {REQUESTS} requests so far: check again.")
    workers = [d["name"] for d in ctx.dynos() if d["type"] == "worker" and d["state"] == "up"]
    if not workers:
        return CheckResult.fail(f"{PATH} answers at once, but no worker dyno is up to do the work",
                                "Who takes the jobs off the queue? Add a `worker` to the Procfile and scale it "
                                "(`herokusim ps:scale worker=1`).")
    slowest = max(int(fields.get("service", "0ms").rstrip("ms") or 0) for _, fields in lines)
    return CheckResult.ok(f"No H12: {REQUESTS} requests to {PATH} answered within {slowest}ms "
                          f"(service= in the router lines), and {', '.join(workers)} does the work.")


def solve(state: runner.LabState, settings: Any, ctx: CheckContext) -> None:
    """A new process type gets no dynos on its first deploy: push the Procfile's `worker`, then scale it."""
    runner.push(state, settings, say=lambda line: None)
    ctx.scale(worker=1)


LAB = Lab(
    number=3,
    slug="h12-long-requests",
    title="Long requests and H12",
    lesson=("The router waits 30 seconds for a response, then answers H12 (Request timeout) while the dyno "
            "keeps working: slow work goes to a worker dyno through a queue, and the request answers at once."),
    task=("GET /report takes 35 s. Request it and watch `herokusim logs --tail`: what does the router say "
          "at 30 s?\n"
          "Make the request answer at once and let a `worker` dyno do the work (the app has a Redis add-on for "
          "the queue); push, scale the worker, and run `herokusim labs:check`."),
    check=check,
    addons=("heroku-redis",),
    solve=solve,
    check_describes=(f"Sends {REQUESTS} concurrent GET {PATH} and reads the router lines of the running release: "
                     "fails with the `code=H12 desc=\"Request timeout\"` line if any timed out; passes when none "
                     "did, none failed, and a worker dyno is up."),
)
