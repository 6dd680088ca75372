"""Lab 6: `$PORT` and R10 — a web dyno that binds its own port is killed after the boot timeout."""

from __future__ import annotations

import time

from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab

BOOT_WAIT = 90.0  # real seconds to wait for web.1: Heroku's boot timeout is 60 s


def check(ctx: CheckContext) -> CheckResult:
    ctx.say("Waiting for web.1 to boot (Heroku gives a web dyno 60 s to bind $PORT)...")
    since = ctx.released_at()  # what the running release did, not an earlier one
    deadline = time.monotonic() + BOOT_WAIT
    while time.monotonic() < deadline:
        states = {d["name"]: d["state"] for d in ctx.dynos() if d["type"] == "web"}
        if states.get("web.1") == "up":
            break
        r10 = [line for line in ctx.logs(source="heroku", since=since) if "Error R10 (Boot timeout)" in line]
        if r10:
            ctx.say("Sending a request through the router...")
            code = ctx.get("/").status_code
            return CheckResult.fail(r10[-1].split(": ", 1)[-1] + f" (and a request got HTTP {code})",
                                    "The router sends requests to the port in $PORT. Which port does app.py bind?")
        time.sleep(1)
    else:
        return CheckResult.undecided("web.1 neither came up nor hit R10 in 90 s: is the daemon busy? Check again.")
    ctx.say("web.1 is up; sending a request through the router...")
    response = ctx.get("/")
    if response.status_code != 200:
        return CheckResult.fail(f"web.1 is up but a request got HTTP {response.status_code}",
                                "Does the app answer GET / with 200?")
    return CheckResult.ok(f"web.1 bound $PORT and is up; GET / answered {response.status_code}.")


LAB = Lab(
    number=6,
    slug="port-r10",
    title="$PORT and R10",
    lesson="A web dyno must listen on the port the platform gives it in $PORT, within 60 seconds of starting.",
    task=("The app works on a laptop but never answers once deployed.\n"
          "Look at `herokusim logs` and `herokusim ps` for a minute: what happens to web.1?\n"
          "Make the app listen where the platform says, push, and run `herokusim labs:check`."),
    check=check,
    check_describes=("Waits up to 90 s for web.1: fails with the `Error R10 (Boot timeout)` line when the dyno "
                     "never binds $PORT; passes when web.1 is up and GET / through the router answers 200."),
)
