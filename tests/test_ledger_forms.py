"""Heroku's own forms for what a push, `releases:info` and `apps:info --json` print (HEROKU.md §4, §5, §8)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Daemon, checkout_of, git, start_daemon, stop_daemon

from herokusim.builds import compile_slug


@pytest.fixture(scope="module")
def failed_phase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, str]]:
    """An app whose first deploy (v4, after v3 set RELEASE_FAIL) failed its release phase; and the push."""
    tmp = tmp_path_factory.mktemp("ledger")
    daemon = start_daemon(tmp / "home")
    try:
        repo = checkout_of("worker-release", tmp / "gated")
        assert daemon.cli("apps:create", "gated").returncode == 0
        assert daemon.cli("git:remote", "-a", "gated", cwd=repo).returncode == 0
        assert daemon.cli("config:set", "RELEASE_FAIL=no-db", "-a", "gated").returncode == 0
        push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
        yield daemon, push.stderr
    finally:
        stop_daemon(daemon)


def test_build_names_the_stack_and_buildpack_and_lists_process_types_alphabetically(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "Procfile").write_text("worker: python worker.py\nweb: python web.py\nclock: python clock.py\n")
    lines: list[str] = []
    compile_slug(app, slug_path=tmp_path / "slug.tgz", cache_dir=tmp_path / "cache", config={}, emit=lines.append)
    assert lines[:3] == ["-----> Building on the Heroku-24 stack", "-----> Using buildpack: heroku/python",
                         "-----> Python app detected"]
    assert "       Procfile declares types -> clock, web, worker" in lines


def test_push_verifies_the_deploy_and_ends_at_a_failed_release_command(failed_phase: tuple[Daemon, str]) -> None:
    _, stderr = failed_phase
    lines = [line[len("remote: "):].rstrip() for line in stderr.splitlines() if line.startswith("remote: ")]
    deployed = next(i for i, line in enumerate(lines) if re.fullmatch(r"\s+http://\S+ deployed to herokusim", line))
    assert lines[deployed - 1] == "       Released v4"
    assert lines[deployed + 1:deployed + 3] == ["Verifying deploy... done.", "Running release command..."], lines
    assert "Migration failed: no-db" in lines
    assert lines[-1] == "Waiting for release.... failed.", "nothing after it, as on Heroku"


def test_releases_info_shows_herokus_rows(failed_phase: tuple[Daemon, str]) -> None:
    daemon, _ = failed_phase
    v4 = daemon.api("GET", "/apps/gated/releases/4").json()
    info = daemon.cli("releases:info", "v4", "-a", "gated")
    assert info.returncode == 0, info.stderr
    sha = re.search(r"Deploy ([0-9a-f]+)", v4["description"])
    assert sha and len(sha[1]) == 8, v4["description"]
    rows = [re.sub(r"\s+", " ", line) for line in info.stdout.strip().splitlines()]
    assert rows == ["=== Release v4", "Add-ons:", "By: dev@herokusim.local",
                    f"Change: Deploy {sha[1]} (release command failed)", "Eligible for Rollback?: Yes",
                    f"When: {v4['created_at']}", "", "=== v4 Config vars", "RELEASE_FAIL: no-db"], info.stdout
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v4["created_at"])
    logplex = daemon.cli("releases:info", "v2", "-a", "gated")
    assert re.search(r"^Change: +Enable Logplex$", logplex.stdout, re.MULTILINE), logplex.stdout
    assert re.search(r"^Eligible for Rollback\?: +No$", logplex.stdout, re.MULTILINE), "v2 has no slug to go back to"


def test_apps_info_json_is_herokus_shape(failed_phase: tuple[Daemon, str]) -> None:
    daemon, _ = failed_phase
    shown = daemon.cli("apps:info", "--json", "-a", "gated")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert sorted(info) == ["addons", "app", "collaborators", "dynos", "pipeline_coupling"]
    assert (info["addons"], info["collaborators"], info["pipeline_coupling"]) == ([], [], None)
    assert info["app"] == daemon.api("GET", "/apps/gated").json()
    assert [d["name"] for d in info["dynos"]] == [d["name"] for d in daemon.api("GET", "/apps/gated/dynos").json()]
