"""Lab 13 (buildpacks): fails while `motd` is missing from the slug (command not found, status 127), passes
once the repo's own buildpack installs it and puts it on PATH through .profile.d (solve: buildpacks set)."""

from __future__ import annotations

from pathlib import Path

from labs_harness import prove

from herokusim.labs.catalogue import lab


def test_lab_13_fails_on_a_missing_command_and_passes_with_a_buildpack(tmp_path: Path) -> None:
    bp = lab(13)
    assert bp is not None and bp.playable
    before, after, _ = prove(bp, tmp_path)
    assert "motd: command not found" in before.observation and "127" in before.observation
    assert "buildpack" in before.hint
    assert "Message of the day" in after.observation
