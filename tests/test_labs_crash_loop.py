"""Lab 8 (crash loops): its check fails on an app that exits for a missing config var, with the crashed
state, and passes once the var is set (config:set, the lab's solve hook)."""

from __future__ import annotations

from pathlib import Path

from labs_harness import prove

from herokusim.labs.catalogue import lab


def test_lab_8_fails_on_a_crash_loop_and_passes_once_the_var_is_set(tmp_path: Path) -> None:
    crash = lab(8)
    assert crash is not None and crash.playable
    before, after, _ = prove(crash, tmp_path)
    assert "to crashed" in before.observation and "SECRET_KEY" in before.observation
    assert "no crash" in after.observation
