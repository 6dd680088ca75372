"""CLI room: Heroku's current command forms and their output against a real daemon — `ps:restart` and
`ps:stop` with `--process-type`/`-p` and `--dyno-name`/`-d` (and the positional forms), the `restart` alias,
`apps:destroy`."""

from __future__ import annotations

from pathlib import Path

from conftest import Daemon, wait_for
from test_dynos import all_up, deploy, dynos, fails


def replaced(daemon: Daemon, app: str, before: dict[str, dict], names: set[str]  # type: ignore[type-arg]
             ) -> dict[str, dict] | None:  # type: ignore[type-arg]
    """The app's dynos once every one named is up again as a new dyno (a new id), else None."""
    now = all_up(daemon, app, set(before))
    return now if now and all(now[name]["id"] != before[name]["id"] for name in names) else None


def test_restart_and_stop_forms(daemon: Daemon, tmp_path: Path) -> None:
    deploy(daemon, tmp_path, "python-hello", "forms")
    assert daemon.cli("ps:scale", "web=2", "-a", "forms").returncode == 0
    both = {"web.1", "web.2"}
    first = wait_for(lambda: all_up(daemon, "forms", both), message="two web dynos up")

    for args, printed, names in [
        (("ps:restart", "--process-type", "web"), "Restarting all web dynos on ⬢ forms... done", both),
        (("ps:restart", "-p", "web"), "Restarting all web dynos on ⬢ forms... done", both),
        (("ps:restart", "web"), "Restarting all web dynos on ⬢ forms... done", both),
        (("ps:restart", "--dyno-name", "web.1"), "Restarting dyno web.1 on ⬢ forms... done", {"web.1"}),
        (("ps:restart", "-d", "web.2"), "Restarting dyno web.2 on ⬢ forms... done", {"web.2"}),
        (("restart",), "Restarting all dynos on ⬢ forms... done", both),
        (("ps:stop", "web"), "Stopping all web dynos on ⬢ forms... done", both),
        (("ps:stop", "--process-type", "web"), "Stopping all web dynos on ⬢ forms... done", both),
        (("ps:stop", "-p", "web"), "Stopping all web dynos on ⬢ forms... done", both),
        (("ps:stop", "--dyno-name", "web.2"), "Stopping dyno web.2 on ⬢ forms... done", {"web.2"}),
        (("ps:stop", "-d", "web.1"), "Stopping dyno web.1 on ⬢ forms... done", {"web.1"}),
    ]:
        result = daemon.cli(*args, "-a", "forms")
        assert result.returncode == 0, (args, result.stderr)
        assert result.stdout == printed + "\n", args
        # a stopped formation dyno is replaced by a new one, as is a restarted one; the others stay
        after = wait_for(lambda before=first, gone=names: replaced(daemon, "forms", before, gone),
                         message=f"{args} to replace {names}")
        assert all(after[name]["id"] == first[name]["id"] for name in both - names), args
        first = after

    # one-offs are a process type too: `ps:stop -p run` ends them all
    for _ in range(2):
        assert daemon.cli("run:detached", "sleep 600", "-a", "forms").returncode == 0
    wait_for(lambda: sum(d["type"] == "run" for d in dynos(daemon, "forms").values()) == 2,
             message="two one-offs")
    stopped = daemon.cli("ps:stop", "-p", "run", "-a", "forms")
    assert stopped.stdout == "Stopping all run dynos on ⬢ forms... done\n", stopped.stderr
    wait_for(lambda: not any(d["type"] == "run" for d in dynos(daemon, "forms").values()),
             message="the one-offs to end")

    fails(daemon, "ps:stop", "-p", "worker", "-a", "forms", expect="Couldn't find that process type (worker)")
    fails(daemon, "ps:restart", "-d", "web.9", "-a", "forms", expect="Couldn't find that dyno (web.9)")
    fails(daemon, "ps:stop", "-a", "forms", expect="Please specify a process type or dyno name to stop.")
    fails(daemon, "ps:restart", "-p", "web", "-d", "web.1", "-a", "forms",
          expect="--process-type cannot also be provided when using --dyno-name")
    assert set(all_up(daemon, "forms", both) or {}) == both, "a refused command touched nothing"


def test_destroy_says_add_ons_go_too(daemon: Daemon) -> None:
    assert daemon.cli("apps:create", "hello").returncode == 0
    refused = daemon.cli("apps:destroy", "hello", "--confirm", "wrong")
    assert refused.returncode == 1
    assert refused.stderr.endswith("Confirmation wrong did not match hello. Aborted.\n")
    unconfirmed = daemon.cli("apps:destroy", "hello", input="hello\n")
    assert unconfirmed.returncode == 1
    assert unconfirmed.stderr.endswith("To proceed, type hello or re-run this command with --confirm hello\n")
    assert daemon.api("GET", "/apps/hello").status_code == 200, "nothing destroyed without a confirmation"
    destroyed = daemon.cli("apps:destroy", "hello", "--confirm", "hello")
    assert destroyed.returncode == 0, destroyed.stderr
    assert destroyed.stdout == "Destroying ⬢ hello (including all add-ons)... done\n"
    assert daemon.api("GET", "/apps/hello").status_code == 404
