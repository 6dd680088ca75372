"""Lab 17 (multiple environments): fails while production was never deployed, passes once the same commit runs
on staging and production with different config (the lab's `solve`: config per app, a second remote, pushes)."""

from __future__ import annotations

from pathlib import Path

from labs_harness import prove

from herokusim.labs.catalogue import lab


def test_lab_17_fails_until_the_same_commit_runs_on_both_with_different_config(tmp_path: Path) -> None:
    envs = lab(17)
    assert envs is not None and envs.playable and envs.apps == ("staging", "production")
    before, after, _ = prove(envs, tmp_path)
    assert "never been deployed" in before.observation
    assert "same commit" not in before.observation and "remote" in before.hint
    assert "same commit" in after.observation or "Both apps run commit" in after.observation
    assert "staging environment" in after.observation and "production environment" in after.observation
