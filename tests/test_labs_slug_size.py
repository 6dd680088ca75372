"""Lab 12 (slug size): the check fails on the slug with the tests' data in it and passes with .slugignore."""

from __future__ import annotations

from pathlib import Path

from labs_harness import prove

from herokusim.labs.catalogue import lab


def test_lab_12_fails_on_a_big_slug_and_passes_with_slugignore(tmp_path: Path) -> None:
    slug_lab = lab(12)
    assert slug_lab is not None and slug_lab.playable
    before, after, _ = prove(slug_lab, tmp_path)
    assert "Compiled slug size: 2.0M" in before.observation
    assert "Compiled slug size:" in after.observation and "K (under 1.0M)" in after.observation
