"""CLI room: `config:set` and `config:unset` against a real daemon — a change that changes nothing says so."""

from __future__ import annotations

from conftest import Daemon


def versions(daemon: Daemon, app: str) -> list[int]:
    return [release["version"] for release in daemon.api("GET", f"/apps/{app}/releases").json()]


def test_config_changes_that_change_nothing_claim_no_release(daemon: Daemon) -> None:
    assert daemon.cli("apps:create", "demo").returncode == 0
    setting = daemon.cli("config:set", "GREETING=hi", "-a", "demo")
    assert "Setting GREETING and restarting ⬢ demo... done, v3" in setting.stdout, setting.stderr
    assert versions(daemon, "demo") == [1, 2, 3]

    unset = daemon.cli("config:unset", "NOPE", "-a", "demo")
    assert (unset.returncode, unset.stdout, unset.stderr) == (0, "NOPE is not set on ⬢ demo: nothing changed\n", "")
    unset = daemon.cli("config:unset", "NOPE", "NEITHER", "-a", "demo")
    assert unset.stdout == "NOPE, NEITHER are not set on ⬢ demo: nothing changed\n"

    same = daemon.cli("config:set", "GREETING=hi", "-a", "demo")
    assert (same.returncode, same.stdout, same.stderr) == (
        0, "GREETING already has that value on ⬢ demo: nothing changed\n", "")
    assert versions(daemon, "demo") == [1, 2, 3]

    # one real change among them makes a release, and the CLI names it
    partly = daemon.cli("config:set", "GREETING=hi", "COLOUR=red", "-a", "demo")
    assert "Setting GREETING, COLOUR and restarting ⬢ demo... done, v4" in partly.stdout, partly.stderr
    gone = daemon.cli("config:unset", "COLOUR", "NOPE", "-a", "demo")
    assert "Unsetting COLOUR, NOPE and restarting ⬢ demo... done, v5" in gone.stdout, gone.stderr
    assert versions(daemon, "demo") == [1, 2, 3, 4, 5]
    assert daemon.api("GET", "/apps/demo/config-vars").json() == {"GREETING": "hi"}
