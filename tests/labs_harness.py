"""The suite's proof of a lab: started on a real daemon, its check fails on the flawed app and passes once the
lab's solution is committed and pushed, as a student would. Used by tests/test_labs_*.py."""

from __future__ import annotations

from pathlib import Path

from conftest import Daemon, start_daemon, stop_daemon

from herokusim.config import Settings
from herokusim.labs import runner
from herokusim.labs.lab import CheckResult, Lab


def settings_of(daemon: Daemon) -> Settings:
    return Settings(home=daemon.home, router_port=daemon.router_port, api_port=daemon.api_port,
                    git_port=daemon.git_port)


def prove(lab: Lab, root: Path, **daemon_settings: str) -> tuple[CheckResult, CheckResult, list[str]]:
    """Start `lab` on a fresh daemon, check (must fail), apply the solution, push, check (must pass).
    Returns both results and every line the lab printed, for the test's own assertions."""
    said: list[str] = []
    daemon = start_daemon(root / "home", **daemon_settings)
    try:
        settings = settings_of(daemon)
        state = runner.start(lab, settings, root / "lab", say=said.append)
        before = runner.check(state, settings, say=said.append)
        assert before.passed is False, f"lab {lab.number}'s check must fail on the flawed app: {before}"
        assert before.observation and before.hint, "a failing check shows what it saw and a hint"
        runner.apply_solution(state, settings)
        runner.push(state, settings, say=said.append)
        after = runner.check(state, settings, say=said.append)
        assert after.passed is True, f"lab {lab.number}'s check must pass with the solution: {after}\n{daemon.output()}"
        return before, after, said
    finally:
        stop_daemon(daemon)
