"""Lab 4 (request queuing and capacity): its check fails on one single-threaded dyno with the queued service
times and passes once the app is scaled to req/s ÷ (1000 ÷ mean ms) dynos."""

from __future__ import annotations

from pathlib import Path

from labs_harness import prove

from herokusim.labs.catalogue import lab


def test_lab_4_fails_on_a_queue_and_passes_with_enough_dynos(tmp_path: Path) -> None:
    queuing = lab(4)
    assert queuing is not None and queuing.playable
    before, after, _ = prove(queuing, tmp_path)
    assert "one after another" in before.observation and "req/s" in before.observation
    assert "3 dynos" in after.observation
