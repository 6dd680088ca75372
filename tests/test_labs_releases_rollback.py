"""Lab 10 (releases and rollback): the bad deploy answers 500 and fails the check; a rollback to the first
deploy passes it."""

from __future__ import annotations

from pathlib import Path

from labs_harness import prove

from herokusim.labs.catalogue import lab


def test_lab_10_fails_on_the_bad_deploy_and_passes_after_a_rollback(tmp_path: Path) -> None:
    rollback_lab = lab(10)
    assert rollback_lab is not None and rollback_lab.playable
    before, after, said = prove(rollback_lab, tmp_path)
    assert "HTTP 500" in before.observation and "status=500" in before.observation
    assert "Rollback to v3" in after.observation and "v3's slug" in after.observation
    assert any("version that worked" in line for line in said)
