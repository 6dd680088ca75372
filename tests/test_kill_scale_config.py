"""kill -9 of the daemon in the middle of `ps:scale web=N` and of a burst of config changes, then a restart
on the same home: the releases are a gapless ledger, every change that was answered is still there, the
formation is what runs, and nothing of the killed daemon is left (no dyno process, no dyno directory)."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from conftest import Daemon, start_daemon, stop_daemon, wait_for
from test_concurrency import check_ledger, ledger, listed_dynos, pushed_app, running_dynos

SCALE_TO = 6
CHANGES = 20


def consistent_after_restart(daemon: Daemon, app: str) -> None:
    """What a restarted daemon must show: a gapless ledger, the formation running, nothing else."""
    check_ledger(ledger(daemon, app))
    formation = {f["type"]: f["quantity"] for f in daemon.api("GET", f"/apps/{app}/formation").json()}

    def formation_up() -> bool:
        dynos = daemon.api("GET", f"/apps/{app}/dynos").json()
        return len(dynos) == sum(formation.values()) and \
            all(sum(d["type"] == t and d["state"] == "up" for d in dynos) == q for t, q in formation.items())

    wait_for(formation_up, timeout=60, message=f"the formation {formation} up after the restart")
    listed = listed_dynos(daemon)
    assert running_dynos(daemon) == listed, "a dyno process runs that no dyno of the API accounts for"
    dynos_dir = daemon.home / "dynos"
    dirs = {p.name for p in dynos_dir.iterdir()} if dynos_dir.exists() else set()
    assert dirs <= listed, "dyno directories left by the killed daemon"


def kill9(daemon: Daemon) -> None:
    daemon.proc.kill()
    daemon.proc.wait()


@pytest.mark.both_runtimes
def test_kill_during_scale(tmp_path: Path) -> None:
    home = tmp_path / "home"
    daemon = start_daemon(home)
    try:
        pushed_app(daemon, tmp_path, "scaled")
        wait_for(lambda: len(running_dynos(daemon)) == 1, message="web.1 running")
        before = running_dynos(daemon)

        def scale() -> None:
            try:
                daemon.api("PATCH", "/apps/scaled/formation/web", json={"quantity": SCALE_TO})
            except httpx.TransportError:
                pass  # the daemon died under it: that is the point

        caller = threading.Thread(target=scale)
        caller.start()
        wait_for(lambda: running_dynos(daemon) - before, interval=0.01, message="the scale to start dynos")
        kill9(daemon)
        caller.join()
        assert running_dynos(daemon), "the killed daemon's dynos outlive it (until a restart reaps them)"
    finally:
        stop_daemon(daemon)
    restarted = start_daemon(home)
    try:
        quantity = next(f["quantity"] for f in restarted.api("GET", "/apps/scaled/formation").json())
        assert quantity in (1, SCALE_TO), "the scale is all or nothing"
        consistent_after_restart(restarted, "scaled")
    finally:
        stop_daemon(restarted)


@pytest.mark.both_runtimes
def test_kill_during_config_changes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    daemon = start_daemon(home)
    answered: dict[str, int] = {}
    try:
        pushed_app(daemon, tmp_path, "configured")
        assert daemon.api("PATCH", "/apps/configured/formation/web", json={"quantity": 2}).status_code == 200
        halfway = threading.Event()

        def change(i: int) -> None:
            try:
                answer = daemon.api("PATCH", "/apps/configured/config-vars", json={f"KEY_{i}": str(i)})
            except httpx.TransportError:
                return  # cut by the kill: this change may or may not have landed
            answered[f"KEY_{i}"] = answer.status_code
            if len(answered) >= CHANGES // 2:
                halfway.set()

        callers = [threading.Thread(target=change, args=(i,)) for i in range(CHANGES)]
        for caller in callers:
            caller.start()
        assert halfway.wait(60), "half of the config changes were never answered"
        kill9(daemon)
        for caller in callers:
            caller.join()
    finally:
        stop_daemon(daemon)
    assert set(answered.values()) == {200}
    restarted = start_daemon(home)
    try:
        config = restarted.api("GET", "/apps/configured/config-vars").json()
        assert set(answered) <= set(config), "a change answered 200 was lost by the crash"
        consistent_after_restart(restarted, "configured")
    finally:
        stop_daemon(restarted)
