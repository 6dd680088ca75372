"""Lab 11 (release phase): the check fails while the schema was never migrated and passes once the Procfile's
release phase migrates on deploy."""

from __future__ import annotations

from pathlib import Path

from labs_harness import prove

from herokusim.labs.catalogue import lab


def test_lab_11_fails_without_migration_and_passes_with_a_release_phase(tmp_path: Path) -> None:
    release_lab = lab(11)
    assert release_lab is not None and release_lab.playable
    before, after, _ = prove(release_lab, tmp_path)
    assert "HTTP 500" in before.observation and 'relation "notes" does not exist' in before.observation
    assert "python migrate.py" in after.observation
