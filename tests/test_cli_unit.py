"""CLI room: unit tests of the pure parts and of the errors the CLI reports without a daemon."""

from __future__ import annotations

import os
import pty
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from herokusim.cli import gitremote
from herokusim.cli.main import main
from herokusim.cli.output import (
    BadArgument,
    ScaleChange,
    ago,
    align_rows,
    config_lines,
    display_size,
    extended_rows,
    formation_summary,
    group_dynos,
    parse_config_args,
    parse_scale_args,
    release_row,
    restart_message,
    scale_summary,
    scale_updates,
    since,
    stop_message,
    version_ref,
)

NOW = datetime(2026, 11, 26, 17, 8, 11, tzinfo=UTC)
ARROW = " ▸    "


def iso(delta: timedelta) -> str:
    return (NOW - delta).isoformat()


# --- ps:scale arguments -------------------------------------------------------------------------------------


def test_scale_args_absolute_relative_and_size() -> None:
    assert parse_scale_args(["web=2", "worker+1", "clock-1", "big=3:standard-2X", "my-job=0"]) == [
        ScaleChange("web", 2, False),
        ScaleChange("worker", 1, True),
        ScaleChange("clock", -1, True),
        ScaleChange("big", 3, False, "standard-2X"),
        ScaleChange("my-job", 0, False),
    ]


@pytest.mark.parametrize("arg", ["web", "web=", "=2", "web=x", "web=-1", "web=2:", "web 2", "wéb=1",
                                 "web=2:a:b"])
def test_scale_args_rejected(arg: str) -> None:
    with pytest.raises(BadArgument, match="Invalid argument"):
        parse_scale_args([arg])


def test_scale_args_type_given_twice() -> None:
    with pytest.raises(BadArgument, match="more than once"):
        parse_scale_args(["web=1", "web+1"])


def test_scale_updates_send_relative_changes_as_changes() -> None:
    changes = parse_scale_args(["web+1", "worker-3", "clock=1:standard-2X"])
    assert scale_updates(changes) == [
        {"type": "web", "quantity": "+1"},
        {"type": "worker", "quantity": "-3"},
        {"type": "clock", "quantity": 1, "size": "standard-2X"},
    ]


def test_scale_and_formation_summaries() -> None:
    formation = [{"type": "worker", "quantity": 1, "size": "standard-2X"},
                 {"type": "web", "quantity": 2, "size": "standard-1X"}]
    assert scale_summary(formation, ["web"]) == "web at 2:Standard-1X"
    assert scale_summary(formation, ["web", "worker"]) == "web at 2:Standard-1X, worker at 1:Standard-2X"
    assert formation_summary(formation) == "web=2:Standard-1X worker=1:Standard-2X"


def test_display_size() -> None:
    assert display_size("standard-1X") == "Standard-1X"
    assert display_size("performance-m") == "Performance-M"
    assert display_size("eco") == "Eco"


# --- config:set arguments and config output -----------------------------------------------------------------


def test_config_args_parsed() -> None:
    assert parse_config_args(["GREETING=hello world", "URL=a=b", "EMPTY=", "_x1=y"]) == {
        "GREETING": "hello world", "URL": "a=b", "EMPTY": "", "_x1": "y"}


def test_config_args_need_equals() -> None:
    with pytest.raises(BadArgument) as info:
        parse_config_args(["OK=1", "FOO"])
    assert str(info.value) == "FOO is invalid. Must be in the format FOO=bar."


@pytest.mark.parametrize("arg", ["1FOO=x", "FOO-BAR=x", "=x", "FÖÖ=x", "A B=x"])
def test_config_args_bad_key(arg: str) -> None:
    with pytest.raises(BadArgument, match="not a valid config var name"):
        parse_config_args([arg])


def test_config_args_none_given() -> None:
    with pytest.raises(BadArgument, match="must specify KEY and VALUE to set"):
        parse_config_args([])


def test_config_lines_aligned_and_sorted() -> None:
    assert config_lines({"GREETING": "hello", "DATABASE_URL": "postgres://x", "A": ""}) == [
        "A:",
        "DATABASE_URL: postgres://x",
        "GREETING:     hello",
    ]


# --- ages, releases, ps groups ------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "expected"), [
    (0, "(~ 0s ago)"), (42.9, "(~ 42s ago)"), (60, "(~ 60s ago)"), (61, "(~ 1m ago)"), (150, "(~ 3m ago)"),
    (3600, "(~ 60m ago)"), (3601, "(~ 1h ago)"), (25 * 3600, "(~ 25h ago)"), (25 * 3600 + 1, ""),
    (-5, "(~ 0s ago)"),
])
def test_ago(seconds: float, expected: str) -> None:
    assert ago(NOW - timedelta(seconds=seconds), NOW) == expected


def test_since_formats_like_heroku() -> None:
    assert since(NOW - timedelta(minutes=5), NOW, UTC) == "2026/11/26 17:03:11 +0000 (~ 5m ago)"
    assert since(NOW - timedelta(days=3), NOW, UTC) == "2026/11/23 17:08:11 +0000"


def test_release_rows() -> None:
    release = {"version": 3, "description": "Set GREETING config vars", "status": "succeeded",
               "user": {"email": "dev@herokusim.local"}, "created_at": iso(timedelta(minutes=2))}
    failed = {**release, "version": 4, "description": "Deploy 1a2b3c4", "status": "failed"}
    rows = [release_row(failed, NOW, UTC), release_row(release, NOW, UTC)]
    when = "2026/11/26 17:06:11 +0000 (~ 2m ago)"
    assert align_rows(rows) == [
        f"v4  Deploy 1a2b3c4 release command failed  dev@herokusim.local  {when}",
        f"v3  Set GREETING config vars               dev@herokusim.local  {when}",
    ]


def test_version_ref() -> None:
    assert version_ref("v12") == "12"
    assert version_ref("12") == "12"
    assert version_ref("01234567-89ab-cdef-0123-456789abcdef") == "01234567-89ab-cdef-0123-456789abcdef"


def test_ps_groups_by_type_size_and_command() -> None:
    def dyno(name: str, state: str = "up", size: str = "standard-1X", command: str = "python app.py") -> dict:
        return {"name": name, "type": name.split(".")[0], "state": state, "size": size, "command": command,
                "updated_at": iso(timedelta(minutes=5))}

    groups = group_dynos([dyno("web.10"), dyno("worker.1", "crashed", command="python worker.py"),
                          dyno("web.2"), dyno("run.4321", command="bash")], NOW, UTC)
    stamp = "2026/11/26 17:03:11 +0000 (~ 5m ago)"
    assert [(g.heading, g.lines) for g in groups] == [
        ("run: one-off processes (1)", (f"run.4321 (Standard-1X): up {stamp}: bash",)),
        ("web (Standard-1X): python app.py (2)", (f"web.2: up {stamp}", f"web.10: up {stamp}")),
        ("worker (Standard-1X): python worker.py (1)", (f"worker.1: crashed {stamp}",)),
    ]


def test_ps_crashed_dyno_line_is_herokus_and_the_cooloff_is_in_extended() -> None:
    crashed = {"id": "d1", "name": "web.1", "type": "web", "state": "crashed", "size": "standard-1X",
               "command": "python app.py", "release": {"version": 3},
               "updated_at": iso(timedelta(seconds=5)),
               "restart_at": (NOW + timedelta(minutes=20)).isoformat()}
    groups = group_dynos([crashed], NOW, UTC)
    assert groups[0].lines == ("web.1: crashed 2026/11/26 17:08:06 +0000 (~ 5s ago)",)
    assert extended_rows([crashed], NOW, UTC) == [
        ["ID", "Process", "State", "Release", "Command", "Size", "Restarting"],
        ["d1", "web.1", "crashed (~ 5s ago)", "3", "python app.py", "Standard-1X",
         "2026/11/26 17:28:11 +0000 (cool-off 20m)"],
    ]


def test_restart_and_stop_messages_are_herokus() -> None:
    assert restart_message("demo") == "Restarting all dynos on ⬢ demo"
    assert restart_message("demo", kind="web") == "Restarting all web dynos on ⬢ demo"
    assert restart_message("demo", dyno="web.1") == "Restarting dyno web.1 on ⬢ demo"
    assert stop_message("demo", dyno="web.2") == "Stopping dyno web.2 on ⬢ demo"
    assert stop_message("demo", kind="web") == "Stopping all web dynos on ⬢ demo"


# --- git remotes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "app"), [
    ("http://127.0.0.1:5002/demo.git", "demo"),
    ("http://127.0.0.1:5002/demo.git/", "demo"),
    ("https://git.heroku.com/shiny-app-1234.git", "shiny-app-1234"),
    ("git@heroku.com:demo.git", "demo"),
    ("http://127.0.0.1:5002/demo", None),
    ("https://github.com/org/repo", None),
])
def test_app_from_url(url: str, app: str | None) -> None:
    assert gitremote.app_from_url(url) == app


def test_base_url() -> None:
    assert gitremote.base_url("http://127.0.0.1:5002/demo.git") == "http://127.0.0.1:5002"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    return repo


def test_app_from_remotes_prefers_herokusim(checkout: Path) -> None:
    assert gitremote.app_from_remotes(checkout) is None
    git(checkout, "remote", "add", "heroku", "https://git.heroku.com/old.git")
    assert gitremote.app_from_remotes(checkout) == "old"
    git(checkout, "remote", "add", "herokusim", "http://127.0.0.1:5002/demo.git")
    assert gitremote.app_from_remotes(checkout) == "demo"


def test_set_and_remove_remote(checkout: Path) -> None:
    gitremote.set_remote("herokusim", "http://127.0.0.1:5002/one.git", checkout)
    gitremote.set_remote("herokusim", "http://127.0.0.1:5002/two.git", checkout)
    git(checkout, "remote", "add", "origin", "https://github.com/org/two.git")
    assert gitremote.remotes(checkout)["herokusim"] == "http://127.0.0.1:5002/two.git"
    assert gitremote.remove_remotes_to({"http://127.0.0.1:5002/two.git"}, checkout) == ["herokusim"]
    assert gitremote.remotes(checkout) == {"origin": "https://github.com/org/two.git"}


def test_credential_helper_configured_locally(checkout: Path) -> None:
    gitremote.configure_credentials("http://127.0.0.1:5002", checkout)
    gitremote.configure_credentials("http://127.0.0.1:5002", checkout)  # idempotent
    helpers = git(checkout, "config", "--local", "--get-all", "credential.http://127.0.0.1:5002.helper")
    assert helpers.splitlines() == ["", gitremote.credential_helper()]
    assert "-m herokusim git:credentials" in gitremote.credential_helper()
    use_path = git(checkout, "config", "--local", "credential.http://127.0.0.1:5002.useHttpPath")
    assert use_path.strip() == "false"


# --- commands that fail before (or instead of) talking to the daemon ----------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    (home / "token").write_text("secret-token\n")
    monkeypatch.chdir(tmp_path)  # not a git checkout, so no app from a remote
    monkeypatch.delenv("HEROKUSIM_API_KEY", raising=False)
    return {"HEROKUSIM_HOME": str(home), "HEROKUSIM_API_PORT": str(closed_port())}


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)


def test_credential_helper_get_prints_token(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "git:credentials", "get", stdin="protocol=http\nhost=127.0.0.1:5002\n\n")
    assert result.exit_code == 0
    assert result.stdout == "username=herokusim\npassword=secret-token\n"


def test_credential_helper_ignores_store_and_erase(cli_env: dict[str, str]) -> None:
    for operation in ("store", "erase"):
        result = run(cli_env, "git:credentials", operation, stdin="protocol=http\nhost=x\npassword=p\n\n")
        assert (result.exit_code, result.output) == (0, "")


def test_token_from_env_overrides_file(cli_env: dict[str, str]) -> None:
    assert run(cli_env, "auth:token").stdout == "secret-token\n"
    assert run({**cli_env, "HEROKUSIM_API_KEY": "from-env"}, "auth:token").stdout == "from-env\n"


def test_token_missing_says_start_the_daemon(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = run({**cli_env, "HEROKUSIM_HOME": str(tmp_path / "empty")}, "auth:token")
    assert result.exit_code == 1
    assert "start it with `herokusim up`" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_daemon_not_running_is_one_line(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "apps")
    assert result.exit_code == 1
    port = cli_env["HEROKUSIM_API_PORT"]
    assert result.stderr == (f"herokusim: the daemon is not running at http://127.0.0.1:{port}; "
                             "start it with `herokusim up`\n")
    assert result.stdout == ""


def test_missing_app(cli_env: dict[str, str]) -> None:
    for command in ("config", "ps", "releases", "logs"):
        result = run(cli_env, command)
        assert result.exit_code == 1
        assert result.stderr == f"{ARROW}No app specified. Use -a APP or run inside a git checkout with a " \
                                "herokusim remote.\n"


def test_bad_arguments_send_nothing(cli_env: dict[str, str]) -> None:
    # The daemon's port is closed, so reaching the network would print "not running" instead.
    result = run(cli_env, "config:set", "-a", "demo", "GOOD=1", "FOO")
    assert result.exit_code == 1
    assert result.stderr == f"{ARROW}FOO is invalid. Must be in the format FOO=bar.\n"
    result = run(cli_env, "config:set", "-a", "demo", "9LIVES=1")
    assert result.exit_code == 1 and result.stderr.startswith(f"{ARROW}9LIVES is not a valid config var name")
    result = run(cli_env, "ps:scale", "-a", "demo", "web=two")
    assert result.exit_code == 1 and result.stderr.startswith(f"{ARROW}Invalid argument 'web=two'")


def test_destroy_confirmation_must_match(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "apps:destroy", "-a", "demo", "--confirm", "other")
    assert result.exit_code == 1
    assert result.stderr == f"{ARROW}Confirmation other did not match demo. Aborted.\n"


def test_destroy_without_confirm_and_no_terminal_says_how(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "apps:destroy", "-a", "demo", stdin="demo\n")
    assert (result.exit_code, result.stderr) == (
        1, f"{ARROW}To proceed, type demo or re-run this command with --confirm demo\n")


def test_destroy_prompts_on_a_terminal(cli_env: dict[str, str]) -> None:
    """A wrong answer typed at the prompt aborts before anything is sent (the daemon's port is closed)."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "herokusim", "apps:destroy", "-a", "demo"],
                                stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, **cli_env}, text=True)
        os.write(controller, b"dmeo\n")
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(terminal)
        os.close(controller)
    assert proc.returncode == 1, (out, err)
    assert f"{ARROW}WARNING: This will delete ⬢ demo including all add-ons." in err
    assert "To proceed, type demo or re-run this command with --confirm demo" in err
    assert err.endswith(f"{ARROW}Confirmation did not match demo. Aborted.\n"), err


def test_git_remote_outside_checkout(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "git:remote", "-a", "demo")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{ARROW}Not a git repository")
    assert len(result.stderr.splitlines()) == 1


def test_colon_names_and_aliases() -> None:
    ctx = main.make_context("herokusim", [], resilient_parsing=True)
    for name in ("apps:create", "apps:info", "apps:destroy", "git:remote", "config:set", "config:unset",
                 "config:get", "releases:info", "rollback", "ps:scale", "logs", "auth:token", "up"):
        assert main.get_command(ctx, name) is not None, name
    assert main.get_command(ctx, "scale") is main.get_command(ctx, "ps:scale")
    assert main.get_command(ctx, "git:credentials").hidden


# --- commands herokusim does not have -----------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "suggestion"), [
    ("addons:docs", "did you mean addons:detach?"),
    ("certs", "`herokusim --help` lists the commands it has."),
    ("pg:bloat", "did you mean pg:wait?"),
    ("apps:transfer", "did you mean apps:info?"),
])
def test_heroku_command_not_simulated_yet(cli_env: dict[str, str], typed: str, suggestion: str) -> None:
    result = run(cli_env, typed, "-a", "demo")
    assert result.exit_code == 2
    assert result.stderr == f"{ARROW}{typed} is a Heroku command that herokusim does not simulate yet; " \
                            f"{suggestion}\n"
    assert result.stdout == ""


@pytest.mark.parametrize(("typed", "suggestion"), [
    ("conifg:set", "did you mean config:set?"),
    ("relases", "did you mean releases?"),
    ("frobnicate", "`herokusim --help` lists the commands it has."),
])
def test_unknown_command_suggests_the_nearest(cli_env: dict[str, str], typed: str, suggestion: str) -> None:
    result = run(cli_env, typed)
    assert (result.exit_code, result.stderr) == (2, f"{ARROW}{typed} is not a herokusim command; {suggestion}\n")


def test_hidden_commands_are_never_suggested(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "git:credential")
    assert "git:credentials" not in result.stderr


def test_heroku_aliases_reach_the_same_command() -> None:
    ctx = main.make_context("herokusim", [], resilient_parsing=True)
    for alias, name in [("restart", "ps:restart"), ("config:add", "config:set"), ("config:remove", "config:unset"),
                        ("releases:rollback", "rollback"), ("dyno:scale", "ps:scale"), ("apps:list", "apps")]:
        assert main.get_command(ctx, alias) is main.get_command(ctx, name), alias


def test_the_books_old_names_say_what_they_stand_for(cli_env: dict[str, str]) -> None:
    # the book (Heroku: Up and Running) types config:add; herokusim runs config:set and says so first
    result = run(cli_env, "config:add", "A=1", "-a", "demo")
    assert result.stderr.splitlines()[0].endswith("config:add is an alias of config:set: use config:set.")
    assert "config:set is an alias" not in run(cli_env, "config:set", "A=1", "-a", "demo").stderr
