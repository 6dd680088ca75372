"""Lab 5 (scale out, not up): the check fails on one performance-l dyno, fails the same on one standard-1x
(the size changes nothing), and passes once the app runs on two dynos."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import start_daemon, stop_daemon
from labs_harness import settings_of

from herokusim.labs import runner
from herokusim.labs.catalogue import lab
from herokusim.labs.context import CheckContext


def _rate(observation: str) -> float:
    match = re.search(r"= ([0-9.]+) req/s", observation)
    assert match, observation
    return float(match.group(1))


def test_lab_5_size_does_not_raise_throughput_more_dynos_do(tmp_path: Path) -> None:
    scale_out = lab(5)
    assert scale_out is not None and scale_out.playable
    said: list[str] = []
    daemon = start_daemon(tmp_path / "home")
    try:
        settings = settings_of(daemon)
        state = runner.start(scale_out, settings, tmp_path / "lab", say=said.append)
        big = runner.check(state, settings, say=said.append)
        assert big.passed is False, big
        assert "1 performance-l dyno(s)" in big.observation.lower() and big.hint
        ctx = CheckContext(settings, state.apps, state.checkout)
        try:
            ctx.resize(web="standard-1x")  # scale down in size: the dyno restarts on the new size
        finally:
            ctx.close()
        small = runner.check(state, settings, say=said.append)
        assert small.passed is False, small
        assert "1 standard-1x dyno(s)" in small.observation.lower()
        assert abs(_rate(small.observation) - _rate(big.observation)) < 1.0, (big, small)  # about 5 req/s each
        runner.apply_solution(state, settings)
        runner.push(state, settings, say=said.append)
        after = runner.check(state, settings, say=said.append)
        assert after.passed is True, f"{after}\n{daemon.output()}"
        assert "2 standard-2x dyno(s)" in after.observation.lower()
        assert _rate(after.observation) >= 8
    finally:
        stop_daemon(daemon)
