"""Concurrent writers on one app, for every write endpoint of the API: every change lands, in its own
release, in order; a write racing apps:destroy gets a 404, never a 500 or a ghost row.

A class of thirty sharing one app is the case: 20 callers at once, each through its own connection (the
CLI is 20 processes). The ledger check reads every release back and asserts that release N+1 is release N
plus exactly its own change.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import HOME_LABEL, Daemon, checkout_of, git, start_daemon, stop_daemon, wait_for

from herokusim.dynos.runtime.docker import LABEL_DYNO_ID

CALLERS = 20


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon for the module (each test makes its own apps): the tests are about the apps, not the
    daemon's start."""
    daemon = start_daemon(tmp_path_factory.mktemp("concurrency") / "home")
    try:
        yield daemon
    finally:
        stop_daemon(daemon)


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call on its own thread, released together; their results in order."""
    gate = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        gate.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def new_app(daemon: Daemon, name: str) -> None:
    assert daemon.api("POST", "/apps", json={"name": name}).status_code == 201


def pushed_app(daemon: Daemon, tmp_path: Path, name: str, fixture: str = "python-hello") -> Path:
    repo = checkout_of(fixture, tmp_path / name)
    new_app(daemon, name)
    assert daemon.cli("git:remote", "-a", name, cwd=repo).returncode == 0
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr
    return repo


def ledger(daemon: Daemon, app: str) -> list[dict[str, Any]]:
    """Every release with its config, oldest first."""
    releases = daemon.api("GET", f"/apps/{app}/releases").json()
    for release in releases:
        release["config"] = daemon.api("GET", f"/apps/{app}/releases/{release['id']}/config-vars").json()
    return releases


def check_ledger(releases: list[dict[str, Any]]) -> None:
    """Versions 1..N without a gap, and each release is the one before it plus exactly its own change."""
    assert [r["version"] for r in releases] == list(range(1, len(releases) + 1))
    assert [r["description"] for r in releases[:2]] == ["Initial release", "Enable Logplex"]
    by_version = {r["version"]: r for r in releases}
    for before, release in pairwise(releases[1:]):  # v1 and v2 come with the app
        description, config, prior = release["description"], release["config"], before["config"]
        slug = release["slug"] and release["slug"]["id"]
        prior_slug = before["slug"] and before["slug"]["id"]
        if rollback := re.fullmatch(r"Rollback to v(\d+)", description):
            target = by_version[int(rollback[1])]
            assert config == target["config"], f"v{release['version']} {description}"
            assert slug == target["slug"]["id"], f"v{release['version']} {description}"
            continue
        assert slug == prior_slug or description.startswith("Deploy"), f"v{release['version']} {description}"
        if description.startswith("Deploy"):
            assert config == prior, f"v{release['version']} {description}: config changed"
            continue
        changed = re.fullmatch(r"Set (.+) and remove (.+) config vars|Set (.+) config vars|Remove (.+) config vars",
                               description)
        assert changed, description
        set_keys, removed_keys = (changed[1] or changed[3] or ""), (changed[2] or changed[4] or "")
        assert {k: v for k, v in config.items() if k in prior} == \
            {k: v for k, v in prior.items() if k in config and k not in set_keys.split(", ")}, description
        assert {k for k in config if prior.get(k) != config[k]} == set(filter(None, set_keys.split(", "))), \
            f"v{release['version']} {description}: {config}"
        assert set(prior) - set(config) == set(filter(None, removed_keys.split(", "))), \
            f"v{release['version']} {description}: {config}"


def listed_dynos(daemon: Daemon) -> set[str]:
    """Ids of every dyno the API shows, all apps."""
    return {d["id"] for app in daemon.api("GET", "/apps").json()
            for d in daemon.api("GET", f"/apps/{app['name']}/dynos").json()}


def running_dynos(daemon: Daemon) -> set[str]:
    """Ids of the dynos running under this daemon's home: its containers, or processes in the process table."""
    if daemon.runtime == "docker":
        import docker

        containers = docker.from_env().containers.list(filters={"label": [
            f"{HOME_LABEL}={daemon.home.resolve()}", "herokusim.role=dyno"]})
        return {c.labels[LABEL_DYNO_ID] for c in containers}
    mark = f"HEROKUSIM_DYNOS_DIR={daemon.home.resolve() / 'dynos'}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            zombie = (entry / "stat").read_text().split(") ", 1)[1][0] == "Z"
        except (OSError, IndexError):
            continue
        if mark in environ and not zombie:
            found |= {v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"HEROKUSIM_DYNO_ID=")}
    return found


def api_log(daemon: Daemon, app: str) -> list[str]:
    session = daemon.api("POST", f"/apps/{app}/log-sessions", json={"lines": 1500, "source": "app"}).json()
    return httpx.get(session["logplex_url"], timeout=30).text.splitlines()


def test_config_sets_from_20_callers_all_land(shared: Daemon, tmp_path: Path) -> None:
    pushed_app(shared, tmp_path, "config-crowd")  # each change restarts its dyno, as in class
    answers = at_once([lambda i=i: shared.api("PATCH", "/apps/config-crowd/config-vars", json={f"KEY_{i}": str(i)})
                       for i in range(CALLERS)])
    assert [a.status_code for a in answers] == [200] * CALLERS
    for i, answer in enumerate(answers):
        assert answer.json()[f"KEY_{i}"] == str(i), "each caller sees its own change"
    config = shared.api("GET", "/apps/config-crowd/config-vars").json()
    assert config == {f"KEY_{i}": str(i) for i in range(CALLERS)}
    releases = ledger(shared, "config-crowd")
    assert len(releases) == 3 + CALLERS, "one release per change"
    check_ledger(releases)
    assert [len(r["config"]) for r in releases[2:]] == list(range(CALLERS + 1)), "each holds every earlier key"


def test_config_set_from_20_cli_processes(shared: Daemon, tmp_path: Path) -> None:
    """The class-of-thirty case: 20 people run `herokusim config:set` on one app at the same moment."""
    pushed_app(shared, tmp_path, "cli-crowd")
    procs = [subprocess.Popen([sys.executable, "-m", "herokusim", "config:set", f"STUDENT_{i}=present",
                               "-a", "cli-crowd"], env=shared.env, cwd=shared.home.parent,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(CALLERS)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    config = shared.api("GET", "/apps/cli-crowd/config-vars").json()
    assert config == {f"STUDENT_{i}": "present" for i in range(CALLERS)}
    releases = ledger(shared, "cli-crowd")
    assert len(releases) == 3 + CALLERS
    check_ledger(releases)


def test_rollbacks_and_config_changes_interleave_in_order(shared: Daemon, tmp_path: Path) -> None:
    pushed_app(shared, tmp_path, "rollers")
    assert shared.api("PATCH", "/apps/rollers/config-vars", json={"BASE": "1"}).status_code == 200  # v4

    def change(i: int) -> httpx.Response:
        if i % 2:
            return shared.api("POST", "/apps/rollers/releases", json={"release": str(3 + i % 3 // 2)})
        return shared.api("PATCH", "/apps/rollers/config-vars", json={f"KEY_{i}": str(i)})

    answers = at_once([lambda i=i: change(i) for i in range(CALLERS)])
    assert sorted(a.status_code for a in answers) == [200] * (CALLERS // 2) + [201] * (CALLERS // 2)
    releases = ledger(shared, "rollers")
    assert len(releases) == 4 + CALLERS
    check_ledger(releases)


def test_formation_scaled_by_20_callers(shared: Daemon, tmp_path: Path) -> None:
    pushed_app(shared, tmp_path, "scalers", fixture="worker-release")
    wanted = [(i % 3, i // 3 % 2) for i in range(CALLERS)]  # (web, worker) quantities each caller asks for

    def scale(i: int) -> httpx.Response:
        web, worker = wanted[i]
        if i % 2:
            return shared.api("PATCH", "/apps/scalers/formation/web", json={"quantity": web})
        return shared.api("PATCH", "/apps/scalers/formation", json={"updates": [
            {"type": "web", "quantity": web}, {"type": "worker", "quantity": worker}]})

    answers = at_once([lambda i=i: scale(i) for i in range(CALLERS)])
    assert [a.status_code for a in answers] == [200] * CALLERS
    # each call's activity line says what that call did, not what a concurrent call made of it
    lines = Counter(m[1] for line in api_log(shared, "scalers") if (m := re.search(r"Scaled to (.+) by user", line)))
    asked = Counter(f"web@{w}:Standard-1X" if i % 2 else f"web@{w}:Standard-1X worker@{k}:Standard-1X"
                    for i, (w, k) in enumerate(wanted))
    asked["web@1:Standard-1X"] += 1  # the first deploy's own line
    assert lines == asked
    formation = {f["type"]: f["quantity"] for f in shared.api("GET", "/apps/scalers/formation").json()}

    def running() -> bool:
        dynos = shared.api("GET", "/apps/scalers/dynos").json()
        up = Counter(d["type"] for d in dynos if d["state"] == "up")
        return len(dynos) == sum(formation.values()) and all(up[t] == q for t, q in formation.items())

    wait_for(running, timeout=60, message=f"dynos matching the formation {formation}")
    wait_for(lambda: running_dynos(shared) == listed_dynos(shared), timeout=30,
             message="scaled-away dynos to stop")


def test_relative_scale_from_10_cli_processes(shared: Daemon, tmp_path: Path) -> None:
    """`herokusim ps:scale worker+1` by ten people at once: every increment lands (the CLI sends the change,
    as Heroku's does, not a quantity it computed from a formation it read before the others wrote)."""
    pushed_app(shared, tmp_path, "incrementers", fixture="worker-release")
    procs = [subprocess.Popen([sys.executable, "-m", "herokusim", "ps:scale", "worker+1", "-a", "incrementers"],
                              env=shared.env, cwd=shared.home.parent, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for _ in range(CALLERS // 2)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    formation = {f["type"]: f["quantity"] for f in shared.api("GET", "/apps/incrementers/formation").json()}
    assert formation["worker"] == CALLERS // 2
    assert shared.cli("ps:scale", "worker-20", "-a", "incrementers").returncode == 0
    formation = {f["type"]: f["quantity"] for f in shared.api("GET", "/apps/incrementers/formation").json()}
    assert formation["worker"] == 0, "a decrease stops at 0"


def test_domains_added_and_removed_by_20_callers(shared: Daemon) -> None:
    new_app(shared, "domainers")
    hostnames = [f"www{i}.example.com" for i in range(CALLERS)]
    added = at_once([lambda h=h: shared.api("POST", "/apps/domainers/domains", json={"hostname": h})
                     for h in hostnames])
    assert [a.status_code for a in added] == [201] * CALLERS
    same = at_once([lambda: shared.api("POST", "/apps/domainers/domains", json={"hostname": "one.example.com"})
                    for _ in range(CALLERS)])
    assert sorted(a.status_code for a in same) == [201] + [422] * (CALLERS - 1), "the hostname is added once"
    listed = {d["hostname"] for d in shared.api("GET", "/apps/domainers/domains").json()}
    assert listed == {"domainers.localhost", "one.example.com", *hostnames}

    removed = at_once([lambda: shared.api("DELETE", "/apps/domainers/domains/one.example.com")
                       for _ in range(CALLERS)])
    assert sorted(a.status_code for a in removed) == [200] + [404] * (CALLERS - 1), "the hostname is removed once"
    removed = at_once([lambda h=h: shared.api("DELETE", f"/apps/domainers/domains/{h}") for h in hostnames])
    assert [a.status_code for a in removed] == [200] * CALLERS
    listed = {d["hostname"] for d in shared.api("GET", "/apps/domainers/domains").json()}
    assert listed == {"domainers.localhost"}


def test_maintenance_and_config_changes_leave_the_router_agreeing(shared: Daemon, tmp_path: Path) -> None:
    """Maintenance toggled while config changes restart the dynos: the router ends in the state the API
    reports (a restart must not put back the maintenance flag it read before a toggle landed)."""
    pushed_app(shared, tmp_path, "maintainers")

    def change(i: int) -> httpx.Response:
        if i % 2:
            return shared.api("PATCH", "/apps/maintainers", json={"maintenance": i % 4 == 1})
        return shared.api("PATCH", "/apps/maintainers/config-vars", json={f"KEY_{i}": str(i)})

    answers = at_once([lambda i=i: change(i) for i in range(CALLERS)])
    assert [a.status_code for a in answers] == [200] * CALLERS
    check_ledger(ledger(shared, "maintainers"))
    on = shared.api("GET", "/apps/maintainers").json()["maintenance"]

    def router_agrees() -> bool:
        answer = shared.get("maintainers.localhost")
        return answer.status_code == 503 if on else answer.status_code == 200

    wait_for(router_agrees, timeout=30, message=f"the router to serve maintenance={on}")


def test_restarts_from_20_callers(shared: Daemon, tmp_path: Path) -> None:
    pushed_app(shared, tmp_path, "restarters")
    assert shared.api("PATCH", "/apps/restarters/formation/web", json={"quantity": 2}).status_code == 200
    answers = at_once([lambda i=i: shared.api("DELETE", "/apps/restarters/dynos" + ("/web" if i % 2 else ""))
                       for i in range(CALLERS)])
    assert [a.status_code for a in answers] == [200] * CALLERS

    def two_up() -> bool:
        dynos = shared.api("GET", "/apps/restarters/dynos").json()
        return sorted((d["name"], d["state"]) for d in dynos) == [("web.1", "up"), ("web.2", "up")]

    wait_for(two_up, timeout=60, message="web.1 and web.2 up after the restarts")
    wait_for(lambda: running_dynos(shared) == listed_dynos(shared), timeout=30,
             message="the replaced dynos to stop")
    assert shared.get("restarters.localhost").status_code == 200


def test_writes_racing_destroy_get_404_not_500(shared: Daemon, tmp_path: Path) -> None:
    pushed_app(shared, tmp_path, "doomed")

    def write(i: int) -> httpx.Response:
        if i == CALLERS // 2:
            return shared.api("DELETE", "/apps/doomed")
        return [
            lambda: shared.api("PATCH", "/apps/doomed/config-vars", json={f"KEY_{i}": "x"}),
            lambda: shared.api("POST", "/apps/doomed/domains", json={"hostname": f"d{i}.example.com"}),
            lambda: shared.api("PATCH", "/apps/doomed/formation/web", json={"quantity": i % 3}),
            lambda: shared.api("PATCH", "/apps/doomed", json={"maintenance": True}),
            lambda: shared.api("POST", "/apps/doomed/releases", json={"release": "3"}),
            lambda: shared.api("DELETE", "/apps/doomed/dynos"),
            lambda: shared.api("GET", "/apps/doomed/releases"),  # a read that answers with the current release
        ][i % 7]()

    answers = at_once([lambda i=i: write(i) for i in range(CALLERS)])
    assert all(a.status_code in (200, 201, 404) for a in answers), [(a.status_code, a.text) for a in answers]
    assert shared.api("GET", "/apps/doomed").status_code == 404
    # nothing the racing writes did is left behind: the hostnames are free and the name makes a fresh app
    new_app(shared, "heir")
    for i in range(1, CALLERS, 7):
        assert shared.api("POST", "/apps/heir/domains", json={"hostname": f"d{i}.example.com"}).status_code == 201
    new_app(shared, "doomed")
    assert [r["version"] for r in shared.api("GET", "/apps/doomed/releases").json()] == [1, 2]
    assert shared.api("GET", "/apps/doomed/config-vars").json() == {}
    assert shared.api("GET", "/apps/doomed/domains").json()[1:] == []
    wait_for(lambda: not shared.api("GET", "/apps/doomed/dynos").json(), timeout=10, message="no dynos")


def test_one_name_created_by_20_callers(shared: Daemon) -> None:
    answers = at_once([lambda: shared.api("POST", "/apps", json={"name": "popular"}) for _ in range(CALLERS)])
    # Heroku answers a name already taken 422 invalid_params (not 409)
    assert sorted(a.status_code for a in answers) == [201] + [422] * (CALLERS - 1)


def test_config_change_during_a_release_phase_keeps_the_deploy(shared: Daemon, tmp_path: Path) -> None:
    """A config change made while a deploy's release phase runs builds on that deploy: once both phases
    have run, the app serves the new code with the new config (the change must not bring the old slug
    back, and the deploy going live must not undo the change)."""
    repo = checkout_of("python-hello", tmp_path / "phased")
    (repo / "Procfile").write_text("web: python app.py\nrelease: sleep 3\n")
    git("commit", "-qam", "a release phase", cwd=repo)
    new_app(shared, "phased")
    assert shared.cli("git:remote", "-a", "phased", cwd=repo).returncode == 0
    assert git("push", "herokusim", "main", cwd=repo, env=shared.env).returncode == 0
    app_py = repo / "app.py"
    app_py.write_text(app_py.read_text().replace("Hello from herokusim!", "Hello from the second push!"))
    git("commit", "-qam", "second", cwd=repo)
    pushed: list[subprocess.CompletedProcess[str]] = []
    push = threading.Thread(target=lambda: pushed.append(git("push", "herokusim", "main", cwd=repo,
                                                                env=shared.env)))
    push.start()
    try:
        wait_for(lambda: shared.api("GET", "/apps/phased/releases").json()[-1]["description"].startswith("Deploy")
                 and shared.api("GET", "/apps/phased/releases").json()[-1]["status"] == "pending",
                 timeout=60, message="the second deploy's release phase to run")
        answer = shared.api("PATCH", "/apps/phased/config-vars", json={"DURING": "the phase"})
        assert answer.status_code == 200
    finally:
        push.join()
    assert pushed[0].returncode == 0, pushed[0].stderr
    wait_for(lambda: all(r["status"] == "succeeded" for r in shared.api("GET", "/apps/phased/releases").json()),
             timeout=60, message="both release phases to succeed")
    check_ledger(ledger(shared, "phased"))
    wait_for(lambda: shared.get("phased.localhost").text.startswith("Hello from the second push!")
             and shared.get("phased.localhost", "/config/DURING").text == "the phase\n",
             timeout=60, message="the new code with the new config")
