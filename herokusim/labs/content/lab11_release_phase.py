"""Lab 11: release phase — code that needs a schema change deployed without its migration; the fix is a
`release:` process type that migrates before each release goes live."""

from __future__ import annotations

from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab


def check(ctx: CheckContext) -> CheckResult:
    current = next(r for r in reversed(ctx.releases()) if r.get("current"))
    if not current.get("slug"):
        return CheckResult.undecided("The app has no slug yet: push, then check again.")
    ctx.say("Waiting for the web dynos of the current release...")
    if not ctx.wait_current():
        return CheckResult.undecided("The web dynos are not up on the current release: check again in a moment.")
    since = ctx.released_at()
    ctx.say("Sending a request through the router...")
    status = ctx.get("/").status_code
    process_types = ctx.slug(current["slug"]["id"]).get("process_types") or {}
    if status != 200:
        errors = [line.split(": ", 1)[1] for line in ctx.logs(source="app", since=since)
                  if "psycopg.errors." in line or "does not exist" in line]
        seen = f" — the app logged: {errors[-1]}" if errors else ""
        return CheckResult.fail(f"GET / answers HTTP {status} on v{current['version']}{seen}",
                                "The schema is in migrate.py, but nothing runs it. What can the platform run "
                                "before each new release takes traffic?")
    if "release" not in process_types:
        return CheckResult.fail(f"GET / answers 200, but v{current['version']}'s Procfile has no release phase "
                                f"(process types: {', '.join(sorted(process_types))}).",
                                "Migrating by hand works until the next deploy with a schema change. Which "
                                "process type runs on every release?")
    return CheckResult.ok(f"v{current['version']} ran `{process_types['release']}` in its release phase before "
                          "going live; GET / answers 200.")


LAB = Lab(
    number=11,
    slug="release-phase",
    title="Release phase",
    lesson=("A deploy that changes the database schema must migrate before the new code takes traffic: the "
            "release phase runs a command on every release, and a failing one keeps the old release live."),
    task=("The notes app answers 500 since it was deployed: read its traceback in `herokusim logs`.\n"
          "Its schema is in migrate.py. Have the platform run it on every deploy, before the release goes\n"
          "live; push and watch the output; then run `herokusim labs:check`."),
    addons=("heroku-postgresql",),
    check=check,
    check_describes=("Waits for the web dynos of the current release and sends GET / through the router: fails "
                     "on a 500 (quoting the app's database error); fails on a 200 when the current slug has no "
                     "`release` process type (a migration run by hand); passes on a 200 from a release whose "
                     "slug declares a release phase."),
)
