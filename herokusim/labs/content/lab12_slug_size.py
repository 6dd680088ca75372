"""Lab 12: slug size — tests and their data shipped in the slug; the fix is a `.slugignore`."""

from __future__ import annotations

from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab

LIMIT = 2**20  # bytes, compressed: the app's own files are a few KB; the fixture's slug is about 2 MB


def _size(size: int) -> str:
    """As the build prints it (`Done: 2.0M`): one decimal, K below a megabyte, else M."""
    return f"{size / 2**10:.1f}K" if size < 2**20 else f"{size / 2**20:.1f}M"


def check(ctx: CheckContext) -> CheckResult:
    current = next(r for r in reversed(ctx.releases()) if r.get("current"))
    if not current.get("slug"):
        return CheckResult.undecided("The app has no slug yet: push, then check again.")
    slug = ctx.slug(current["slug"]["id"])
    ctx.say(f"v{current['version']}'s slug is {_size(slug['size'])} compressed; sending a request...")
    if slug["size"] >= LIMIT:
        return CheckResult.fail(f"Compiled slug size: {_size(slug['size'])} (v{current['version']}) for an app "
                                "whose code is a few KB.",
                                "Every dyno start unpacks the whole slug. What in the repository does a dyno "
                                "never run, and how do you keep it out of the slug but in git?")
    if not ctx.wait_current():
        return CheckResult.undecided("The web dynos are not up on the current release: check again in a moment.")
    status = ctx.get("/").status_code
    if status != 200:
        return CheckResult.fail(f"The slug is {_size(slug['size'])}, but GET / answers HTTP {status}.",
                                "Was something the app needs left out of the slug?")
    return CheckResult.ok(f"Compiled slug size: {_size(slug['size'])} (under {_size(LIMIT)}) and GET / answers 200.")


LAB = Lab(
    number=12,
    slug="slug-size",
    title="Slug size",
    lesson=("Everything the build leaves in the app's directory is in the slug, which every dyno start unpacks: "
            "tests, their data and other files a dyno never runs make deploys and scale-out slower."),
    task=("Push the app and read the end of the build (`Done: ...`): how big is the slug, next to app.py?\n"
          "Keep the tests and their data in git but out of the slug, push, and run `herokusim labs:check`."),
    check=check,
    check_describes=(f"Reads the current release's slug from the API: fails while it is {_size(LIMIT)} or more "
                     "compressed (the fixture's is about 2 MB, its code a few KB); passes when it is smaller and "
                     "GET / through the router still answers 200."),
)
