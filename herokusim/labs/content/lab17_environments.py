"""Lab 17: multiple environments — staging and production apps, the same commit, different config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from herokusim.cli import gitremote
from herokusim.client import app_path
from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab

if TYPE_CHECKING:
    from herokusim.config import Settings
    from herokusim.labs.runner import LabState


def _commit(ctx: CheckContext, app: str) -> str | None:
    """The commit the app's current release runs, or None when it has never been deployed."""
    current: dict[str, Any] | None = next((r for r in reversed(ctx.releases(app)) if r.get("current")), None)
    slug = (current or {}).get("slug")
    if not slug:
        return None
    return ctx.api.get(app_path(app, "slugs", slug["id"])).get("commit")  # type: ignore[no-any-return]


def check(ctx: CheckContext) -> CheckResult:
    staging, production = ctx.apps["staging"], ctx.apps["production"]
    ctx.say(f"Reading the releases of {staging} and {production}...")
    ours, theirs = _commit(ctx, staging), _commit(ctx, production)
    if ours is None:
        return CheckResult.undecided(f"{staging} runs no deployed code: push to it (git push herokusim main).")
    if theirs is None:
        return CheckResult.fail(f"{production} has never been deployed: it has no release with a slug.",
                                "Production is an app of its own: give it a git remote and push to it.")
    if theirs != ours:
        return CheckResult.fail(f"{staging} runs commit {ours[:7]}, {production} runs {theirs[:7]}.",
                                "Promote what worked on staging: push the same commit to production.")
    if ctx.config(staging) == ctx.config(production):
        return CheckResult.fail(f"{staging} and {production} run with the same config vars.",
                                "The code is the same everywhere; what makes an environment is its config.")
    answers = {}
    for app in (staging, production):
        ctx.say(f"Waiting for {app}'s web dyno and sending it a request...")
        if not ctx.wait_up(app=app, timeout=90):
            return CheckResult.undecided(f"{app}'s web dyno did not come up in 90 s: check again.")
        response = ctx.get("/", app=app)
        if response.status_code != 200:
            return CheckResult.fail(f"GET / on {app} answered HTTP {response.status_code}.",
                                    "Both environments should serve the app: look at their logs.")
        answers[app] = response.text.strip()
    return CheckResult.ok(f"Both apps run commit {ours[:7]} with their own config: "
                          + "; ".join(f"{app}: {text!r}" for app, text in answers.items()))


def solve(state: LabState, settings: Settings, ctx: CheckContext) -> None:
    """What a student does: config per environment, a `production` remote, staging pushed, then promoted."""
    from herokusim.labs import runner

    for role in ("staging", "production"):
        ctx.config_set(app=state.apps[role], APP_ENV=role)
    gitremote.add_remote("production", settings.git_url(state.apps["production"]), cwd=state.checkout)
    runner.push(state, settings, say=lambda line: None)
    runner.git(settings, state.checkout, "push", "-q", "production", "main")


LAB = Lab(
    number=17,
    slug="environments",
    title="Multiple environments",
    lesson=("Staging and production are separate apps running the same code with different config; a commit "
            "is promoted by pushing it to the production app's git remote once it worked on staging."),
    task=("The lab made a staging app (your `herokusim` remote) and a production app nobody deployed.\n"
          "Give each its own config (APP_ENV), add a git remote for production and push the commit staging "
          "runs to it.\nThen run `herokusim labs:check`."),
    check=check,
    apps=("staging", "production"),
    check_describes=("Reads both apps' current releases: fails when production has no deployed slug, when the "
                     "two run different commits, or when their config vars are identical; passes when both run "
                     "the same commit, have different config and answer GET / with 200."),
    solve=solve,
)
