"""Lab 9: config, not code — credentials in the source; the fix reads them from a config var."""

from __future__ import annotations

import secrets

from herokusim.labs.context import CheckContext
from herokusim.labs.lab import CheckResult, Lab

VAR = "PAYMENTS_API_KEY"
SECRET = "sk_live_51HqLab9Pa7mentsK3y"  # the key fixtures/config-not-code/app.py has in its code


def _code_files(ctx: CheckContext) -> list[str]:
    """The checkout's files (not .git) that hold the literal secret."""
    found = []
    for path in sorted(ctx.checkout.rglob("*")):
        if path.is_file() and ".git" not in path.relative_to(ctx.checkout).parts:
            try:
                if SECRET in path.read_text(errors="replace"):
                    found.append(str(path.relative_to(ctx.checkout)))
            except OSError:
                continue
    return found


def check(ctx: CheckContext) -> CheckResult:
    before = ctx.config().get(VAR)
    probe = f"sk_test_{secrets.token_hex(6)}"
    ctx.say(f"Giving the app a key of its own: config:set {VAR}=sk_test_…{probe[-4:]} (a new release)...")
    ctx.config_set(**{VAR: probe})
    try:
        if not ctx.wait_current():
            return CheckResult.undecided("The web dynos did not come up on the new release within 2 minutes: "
                                         "look at `herokusim logs`, then check again.")
        response = ctx.get("/")
        text = response.text.strip()
    finally:
        ctx.say(f"Putting {VAR} back as it was...")
        ctx.config_set(**{VAR: before})
    if response.status_code != 200:
        return CheckResult.fail(f"With {VAR} set, GET / answered HTTP {response.status_code}.",
                                "Does the app start and answer GET / when its config var is set?")
    if not text.endswith(probe[-4:]):
        return CheckResult.fail(f"After config:set {VAR}=…{probe[-4:]} the app still says: {text!r}",
                                "The app ignores its config: where do config vars reach a dyno's process?")
    holders = _code_files(ctx)
    if holders:
        return CheckResult.fail(f"The app follows {VAR}, but the secret key is still in {', '.join(holders)}.",
                                "Anyone who can read the code has the key: take it out of the files.")
    return CheckResult.ok(f"The app used the key it was given (…{probe[-4:]}) and the code holds no secret.")


LAB = Lab(
    number=9,
    slug="config-not-code",
    title="Config, not code",
    lesson=("Credentials and anything else that differs between deploys belong in config vars, set per app and "
            "recorded as releases — not in the code, where every copy of the repository carries them."),
    task=("The shop's payments key is written into app.py. `curl` the app, then `herokusim config:set\n"
          f"{VAR}=sk_test_1234` and `curl` again: does the app follow its config? See `herokusim releases`.\n"
          f"Make the app read {VAR} from its config, remove the key from the code, push, and run\n"
          "`herokusim labs:check`."),
    config={VAR: SECRET},
    check=check,
    check_describes=(f"Sets {VAR} on the app to a new random key (a new release), waits for the web dynos of "
                     "that release, and reads GET /: fails when the app still shows the old key's last 4 "
                     "characters or when the literal key is still in the checkout's files; passes when the "
                     f"app follows the config var and the code holds no secret. {VAR} is put back afterwards."),
)
