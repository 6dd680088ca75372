"""Lab 15: background work — an e-mail sent inside the request makes every response slow; a worker sends it."""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from herokusim.labs import runner
from herokusim.labs.context import CheckContext, parse_router_line
from herokusim.labs.lab import CheckResult, Lab

SIGNUPS = 5
THRESHOLD_MS = 500  # a sign-up that only queues its e-mail answers in a few ms
SEND_WAIT = 60.0  # real seconds for the worker to log every send (the fix takes about 2 s each)
SENT = "Sent welcome e-mail to "


def service_ms(fields: dict[str, str]) -> int:
    try:
        return int(fields.get("service", "").removesuffix("ms"))
    except ValueError:
        return 0


def check(ctx: CheckContext) -> CheckResult:
    if not ctx.wait_up("web", timeout=90):
        return CheckResult.undecided("web.1 is not up yet: look at `herokusim ps`, then check again.")
    since = ctx.released_at()
    tag = secrets.token_hex(3)
    addresses = [f"student{i}-{tag}@example.com" for i in range(1, SIGNUPS + 1)]
    ctx.say(f"Signing up {SIGNUPS} users (POST /signup), all at once...")

    def sign_up(address: str) -> httpx.Response | Exception:
        try:
            return ctx.get("/signup", method="POST", data={"email": address})
        except httpx.HTTPError as exc:
            return exc
    with ThreadPoolExecutor(max_workers=SIGNUPS) as pool:
        answers = list(pool.map(sign_up, addresses))
    failed = [a for a in answers if isinstance(a, Exception) or a.status_code >= 400]
    if failed:
        first: Any = failed[0]
        seen = str(first) if isinstance(first, Exception) else f"HTTP {first.status_code}"
        return CheckResult.fail(f"{len(failed)} of {SIGNUPS} sign-ups failed ({seen})",
                                "Keep the app's interface: POST /signup with email=ADDRESS. What do the logs say?")
    lines = [(message, parse_router_line(message)) for line in ctx.logs(source="heroku", since=since)
             if "heroku[router]: " in line and (message := line.split("heroku[router]: ", 1)[1])]
    signups = [(message, fields) for message, fields in lines if fields.get("path") == "/signup"]
    if len(signups) < SIGNUPS:
        return CheckResult.undecided(f"Only {len(signups)} router lines for {SIGNUPS} sign-ups so far: check again.")
    slowest, worst = max(((service_ms(fields), message) for message, fields in signups), key=lambda x: x[0])
    if slowest > THRESHOLD_MS:
        return CheckResult.fail(f"A sign-up took {slowest}ms (over {THRESHOLD_MS}ms): {worst}",
                                "What is the user waiting for before the page answers? Does it have to happen "
                                "before the response, and in the web process?")
    ctx.say("Sign-ups answered fast; waiting for a worker dyno to log each e-mail it sends...")
    deadline = time.monotonic() + SEND_WAIT
    while True:
        sent = {address for line in ctx.logs(source="app", since=since) if " app[worker." in line
                for address in addresses if SENT + address in line}
        if len(sent) == SIGNUPS or time.monotonic() > deadline:
            break
        time.sleep(1)
    missing = [address for address in addresses if address not in sent]
    if missing:
        workers = [d["name"] for d in ctx.dynos() if d["type"] == "worker" and d["state"] == "up"]
        return CheckResult.fail(f"Sign-ups answer within {slowest}ms, but in {SEND_WAIT:.0f} s no worker dyno "
                                f"logged `{SENT}{missing[0]}` ({len(sent)} of {SIGNUPS} sent; worker dynos up: "
                                f"{', '.join(workers) or 'none'})",
                                "The e-mails still have to go out: a `worker` process (scaled to 1) takes them "
                                f"off the queue, sends them and logs `{SENT}ADDRESS`.")
    return CheckResult.ok(f"Sign-ups answered within {slowest}ms (service= in the router lines), and a worker "
                          f"logged all {SIGNUPS} welcome e-mails.")


def solve(state: runner.LabState, settings: Any, ctx: CheckContext) -> None:
    """A new process type gets no dynos on its first deploy: push the Procfile's `worker`, then scale it."""
    runner.push(state, settings, say=lambda line: None)
    ctx.scale(worker=1)


LAB = Lab(
    number=15,
    slug="background-work",
    title="Background work",
    lesson=("Work the response does not depend on, such as sending an e-mail, belongs in a worker dyno fed "
            "by a queue: web requests stay fast, and the work still gets done."),
    task=("Signing up (POST /signup, email=ADDRESS) is slow. Sign up once and read the router line's "
          "`service=` in `herokusim logs`.\n"
          "Answer at once and send the e-mail from a `worker` dyno through a queue (the app has a Redis add-on); "
          "log `Sent welcome e-mail to ADDRESS` there; push, scale the worker, and run `herokusim labs:check`."),
    check=check,
    addons=("heroku-redis",),
    solve=solve,
    check_describes=(f"Signs up {SIGNUPS} users at once, then reads the running release's router lines: fails "
                     f"with the slowest line when any took over {THRESHOLD_MS}ms; otherwise waits up to "
                     f"{SEND_WAIT:.0f} s for a worker dyno to log `{SENT}ADDRESS` for each and passes when it "
                     "has."),
)
