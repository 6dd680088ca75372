"""Lab 2 (stateless sessions): its check fails while sessions live in one process's memory on three web dynos,
and passes with signed cookies (the secret a config var)."""

from __future__ import annotations

from pathlib import Path

from labs_harness import prove

from herokusim.labs.catalogue import lab


def test_lab_2_loses_in_memory_sessions_and_keeps_signed_cookies(tmp_path: Path) -> None:
    sessions_lab = lab(2)
    assert sessions_lab is not None and sessions_lab.playable
    before, after, _ = prove(sessions_lab, tmp_path)
    assert "were not logged in" in before.observation and "HTTP 401" in before.observation
    assert "stayed logged in across 100 requests" in after.observation
    assert after.observation.count("web.") >= 2
