"""Lab 1: the ephemeral filesystem — uploads saved on a dyno's disk are private to it and gone on a restart."""

from __future__ import annotations

import secrets

from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab

READS = 10  # GETs of the uploaded file, spread by the router over the web dynos
WARP_HOURS = 28  # past 24 h + the 0-216 min spread: every dyno has cycled once
HINT = ("A dyno's disk is its own, and fresh on every start. Where could the app keep files that every dyno "
        "sees and that outlive any of them? (`herokusim config` shows the add-on the app has.)")


def check(ctx: CheckContext) -> CheckResult:
    if not ctx.wait_up("web", timeout=90):
        return CheckResult.undecided("The web dynos are not up yet: look at `herokusim ps`, then check again.")
    name = f"check-{secrets.token_hex(4)}.txt"
    data = secrets.token_hex(16)
    ctx.say(f"Uploading {name} (POST /uploads/{name})...")
    saved = ctx.get(f"/uploads/{name}", method="POST", content=data.encode())
    if saved.status_code >= 300:
        return CheckResult.fail(f"POST /uploads/{name} answered HTTP {saved.status_code}",
                                "Keep the app's interface: POST /uploads/NAME saves, GET /uploads/NAME returns it.")
    ctx.say(f"Fetching it {READS} times, from whichever web dyno the router picks...")
    misses = [r for r in ctx.load(READS, f"/uploads/{name}", concurrency=2)
              if isinstance(r, Exception) or r.status_code != 200 or r.text != data]
    if misses:
        seen = next((f"HTTP {m.status_code}: {m.text.strip()}" for m in misses if not isinstance(m, Exception)),
                    str(misses[0]))
        return CheckResult.fail(f"{len(misses)} of {READS} GETs of {name} did not get the file back ({seen})",
                                HINT)
    ctx.say(f"Letting a simulated day pass (clock:warp {WARP_HOURS}h): every dyno cycles...")
    ctx.warp(WARP_HOURS)
    if not ctx.wait_up("web", timeout=90):
        return CheckResult.undecided("The web dynos did not come back up after the daily cycle: check again.")
    after = ctx.get(f"/uploads/{name}")
    if after.status_code != 200 or after.text != data:
        return CheckResult.fail(f"After `Cycling` (a simulated day), GET /uploads/{name} answered "
                                f"HTTP {after.status_code}: {after.text.strip()}", HINT)
    return CheckResult.ok(f"{name} came back from every dyno, {READS} times, and again after every dyno cycled.")


LAB = Lab(
    number=1,
    slug="ephemeral-filesystem",
    title="The ephemeral filesystem",
    lesson=("A dyno's filesystem is private to it and reset on every start (deploys, restarts, the daily "
            "cycle): files that must last belong in a backing service such as Postgres or Redis."),
    task=("Users upload files and later cannot find them. Upload one (POST /uploads/NAME), fetch it a few "
          "times, then `herokusim clock:warp 28h` and look at `herokusim logs`.\n"
          "Keep the uploads where every dyno sees them and they survive a restart, push, and run "
          "`herokusim labs:check`."),
    check=check,
    addons=("heroku-redis",),
    formation={"web": 2},
    check_describes=(f"Uploads a random file, fetches it {READS} times through the router (two web dynos), "
                     f"then warps the clock {WARP_HOURS} h so every dyno cycles and fetches it again. Fails "
                     "with the first miss (HTTP 404 from a dyno without the file); passes when every fetch "
                     "returns the file, whatever store the app uses."),
)
