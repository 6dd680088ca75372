"""Lab 10: releases and rollback — a deploy that answers 500; the fix is a rollback to the release that
worked (a new release with its slug and config), not a new build."""

from __future__ import annotations

from typing import Any

from herokusim.client import app_path
from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab


def _good(releases: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The release that worked: the app's first deploy (labs:start pushes the working version first)."""
    return next((r for r in releases if r["description"].startswith("Deploy ") and r.get("slug")), None)


def check(ctx: CheckContext) -> CheckResult:
    releases = ctx.releases()
    good = _good(releases)
    if good is None:
        return CheckResult.undecided("The app has no deploy yet: push, or start the lab again.")
    ctx.say("Waiting for the web dynos of the current release...")
    if not ctx.wait_current():
        return CheckResult.undecided("The web dynos are not up on the current release: check again in a moment.")
    current = next(r for r in reversed(ctx.releases()) if r.get("current"))
    ctx.say("Sending a request through the router...")
    status = ctx.get("/").status_code
    label = f"v{current['version']} ({current['description'].split(' by user ')[0]})"
    if status != 200:
        lines = [line for line in ctx.router_lines() if line.get("path") == "/"]
        seen = f" — heroku[router] status={lines[-1].get('status')}" if lines else ""
        return CheckResult.fail(f"GET / answers HTTP {status} on the current release, {label}{seen}.",
                                "`herokusim releases` lists every deploy. How do you run an earlier one again "
                                "without building anything?")
    if not current["description"].startswith("Rollback to v"):
        return CheckResult.fail(f"GET / works again, but {label} is a new deploy, not a rollback.",
                                "A fix pushed in a hurry takes a build and may break again. Which command makes "
                                "a release from the one that worked?")
    if (current.get("slug") or {}).get("id") != good["slug"]["id"]:
        return CheckResult.fail(f"{label} rolled back to a release whose code is not the one that worked "
                                f"(v{good['version']}).", f"Roll back to v{good['version']}.")
    return CheckResult.ok(f"{label}: a new release running v{good['version']}'s slug; GET / answers 200.")


def solve(state: Any, settings: Any, ctx: CheckContext) -> None:
    """Deploy what is committed (the push after this finds nothing new), then roll back to the first deploy."""
    from herokusim.labs import runner

    runner.push(state, settings, say=lambda line: None)
    good = _good(ctx.releases())
    assert good is not None
    ctx.api.post(app_path(ctx.app, "releases"), {"release": good["id"]})
    ctx.wait_current()


LAB = Lab(
    number=10,
    slug="releases-rollback",
    title="Releases and rollback",
    lesson=("Every deploy and config change is a numbered release that keeps its slug and config; when a deploy "
            "breaks production, a rollback makes a new release from an earlier one in seconds, with no build."),
    task=("The price list worked until the last deploy; now it answers 500. Read `herokusim logs` and\n"
          "`herokusim releases`: which release broke it? Put the working version back without pushing code,\n"
          "then run `herokusim labs:check`."),
    earlier="releases-rollback.earlier",
    check=check,
    solve=solve,
    check_describes=("Waits for the web dynos of the current release and sends GET / through the router: fails "
                     "on a 500 (quoting the router's status); fails when the current release is a new deploy "
                     "rather than `Rollback to vN`; passes when it is a rollback whose slug is the first "
                     "deploy's (the version that worked) and GET / answers 200."),
)
