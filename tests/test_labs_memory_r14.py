"""Lab 14 (memory quota): the leaky app logs R14 then R15 under the check's load; the fixed one serves it all
with neither. The quota shortened through HEROKUSIM_MEMORY_QUOTA_MB (Heroku's 512 MB ships: test_defaults.py)."""

from __future__ import annotations

from pathlib import Path

from labs_harness import prove

from herokusim.labs.catalogue import lab


def test_lab_14_fails_on_r14_and_passes_once_the_leak_is_fixed(tmp_path: Path) -> None:
    mem = lab(14)
    assert mem is not None and mem.playable
    before, after, _ = prove(mem, tmp_path, HEROKUSIM_MEMORY_QUOTA_MB="64")
    assert before.observation.split(": ", 1)[1].startswith("Error R14 (Memory quota exceeded)")
    assert "R15" in before.observation
    assert "no R14 or R15" in after.observation
