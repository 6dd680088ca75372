"""Lab 16 (erosion resistance): nothing to fix — the check fails until a simulated day has cycled web.1 on
the same release, and passes after the solution's warp."""

from __future__ import annotations

from pathlib import Path

from labs_harness import prove

from herokusim.labs.catalogue import lab


def test_lab_16_passes_once_a_day_has_cycled_the_dynos(tmp_path: Path) -> None:
    erosion = lab(16)
    assert erosion is not None and erosion.playable
    before, after, _ = prove(erosion, tmp_path)
    assert "No web dyno has cycled" in before.observation
    assert "Cycling" in after.observation and "the same code" in after.observation
