"""Lab 6 ($PORT and R10): its check fails on the flawed app with the R10 line and passes with the fix."""

from __future__ import annotations

from pathlib import Path

from labs_harness import prove

from herokusim.labs.catalogue import lab


def test_lab_6_fails_on_r10_and_passes_once_port_is_bound(tmp_path: Path) -> None:
    port_lab = lab(6)
    assert port_lab is not None and port_lab.playable
    # the boot timeout shortened through its documented setting; test_defaults.py proves Heroku's 60 s ships
    before, after, _ = prove(port_lab, tmp_path, HEROKUSIM_BOOT_TIMEOUT="5")
    assert "Error R10 (Boot timeout)" in before.observation
    assert "$PORT" in before.hint
    assert "up" in after.observation
