"""Lab 7 (graceful shutdown and R12): its check fails on an app that ignores SIGTERM with the R12 line and
passes once the app exits on SIGTERM (status 143)."""

from __future__ import annotations

from pathlib import Path

from labs_harness import prove

from herokusim.labs.catalogue import lab


def test_lab_7_fails_on_r12_and_passes_once_sigterm_is_handled(tmp_path: Path) -> None:
    shutdown = lab(7)
    assert shutdown is not None and shutdown.playable
    # the 30 s grace shortened through its documented setting; test_defaults.py proves Heroku's 30 s ships
    before, after, _ = prove(shutdown, tmp_path, HEROKUSIM_STOP_GRACE="3")
    assert "Error R12 (Exit timeout) -> At least one process failed to exit within 3 seconds of SIGTERM" \
        in before.observation
    assert "SIGTERM" in before.hint
    assert "Process exited with status 143" in after.observation
