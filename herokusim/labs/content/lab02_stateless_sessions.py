"""Lab 2: stateless sessions — sessions kept in one process's memory are lost on the other web dynos."""

from __future__ import annotations

import secrets
from typing import Any

from herokusim.labs.context import CheckContext, parse_router_line
from herokusim.labs.lab import CheckResult, Lab

DYNOS = 3
REQUESTS = 100


def check(ctx: CheckContext) -> CheckResult:
    web = next((f["quantity"] for f in ctx.formation() if f["type"] == "web"), 0)
    if web < DYNOS:
        return CheckResult.fail(f"The app runs {web} web dyno(s); the lab is about {DYNOS}",
                                f"Fewer dynos only hide the problem: `herokusim ps:scale web={DYNOS}`.")
    if not ctx.wait_up("web", timeout=90):
        return CheckResult.undecided("The web dynos are not all up yet: look at `herokusim ps`, then check again.")
    since = ctx.released_at()
    user = f"student-{secrets.token_hex(3)}"
    ctx.say(f"Logging in as {user} (GET /login?user={user})...")
    login = ctx.get(f"/login?user={user}")
    session = login.cookies.get("session")
    if login.status_code != 200 or not session:
        return CheckResult.fail(f"GET /login?user={user} answered HTTP {login.status_code} "
                                f"{'with' if session else 'without'} a `session` cookie",
                                "Keep the app's interface: /login?user=NAME sets the `session` cookie, /me reads it.")
    ctx.say(f"Asking GET /me {REQUESTS} times with that cookie, on {DYNOS} web dynos...")
    answers = ctx.load(REQUESTS, "/me", headers={"Cookie": f"session={session}"})
    lost = [a for a in answers if isinstance(a, Exception) or a.status_code != 200 or user not in a.text]
    if lost:
        first: Any = lost[0]
        seen = str(first) if isinstance(first, Exception) else f"HTTP {first.status_code}: {first.text.strip()}"
        return CheckResult.fail(f"{len(lost)} of {REQUESTS} requests with {user}'s session were not logged in "
                                f"({seen})",
                                "Each web dyno is its own process with its own memory, and the router picks "
                                "one at random. How could every dyno know who the cookie belongs to?")
    served = {fields.get("dyno") for line in ctx.logs(source="heroku", since=since)
              if "heroku[router]: " in line
              and (fields := parse_router_line(line.split("heroku[router]: ", 1)[1])).get("path") == "/me"}
    served.discard(None)
    if len(served) < 2:
        return CheckResult.undecided(f"The router lines show /me served by {len(served)} dyno(s) only: check again.")
    return CheckResult.ok(f"{user} stayed logged in across {REQUESTS} requests served by "
                          f"{', '.join(sorted(d for d in served if d))}.")


def solve(state: Any, settings: Any, ctx: CheckContext) -> None:
    """The solution's signed cookies need a secret every dyno shares: a config var, as a student sets it."""
    ctx.config_set(SECRET_KEY=secrets.token_hex(32))


LAB = Lab(
    number=2,
    slug="stateless-sessions",
    title="Stateless sessions",
    lesson=("The router spreads requests over every web dyno at random, so a process must not keep state "
            "between requests: sessions belong in signed cookies or a shared store."),
    task=("With three web dynos, users are logged out at random. Log in (GET /login?user=NAME keeps a cookie), "
          "call GET /me a few times and watch which dyno answers in `herokusim logs`.\n"
          "Make every dyno recognise the session, keep web=3, push, and run `herokusim labs:check`."),
    check=check,
    formation={"web": DYNOS},
    solve=solve,
    check_describes=(f"Needs {DYNOS} web dynos up; logs in once, then sends GET /me {REQUESTS} times with the "
                     "session cookie. Fails with the count of requests that answered without the user (401 from "
                     "another dyno); passes when all do and the router lines show several dynos served them."),
)
