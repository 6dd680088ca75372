"""Lab 9 (config, not code): the check fails while the key is in the code and passes once the app reads it
from its config var."""

from __future__ import annotations

from pathlib import Path

from labs_harness import prove

from herokusim.labs.catalogue import lab


def test_lab_9_fails_on_a_hard_coded_key_and_passes_with_a_config_var(tmp_path: Path) -> None:
    config_lab = lab(9)
    assert config_lab is not None and config_lab.playable
    before, after, said = prove(config_lab, tmp_path)
    assert "still says" in before.observation and "PAYMENTS_API_KEY" in before.observation
    assert "no secret" in after.observation
    assert any("config:set" in line for line in said)
