"""Labs 20 (regions) and 21 (logs and drains): listed in the catalogue with what they wait for, not playable;
labs:start refuses them with one line (runner.start raises LabError) and creates nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from herokusim.config import Settings
from herokusim.labs import runner
from herokusim.labs.catalogue import lab, labs


@pytest.mark.parametrize("number, waits", [(20, "apps:fork --region"), (21, "log drains")])
def test_listed_but_not_playable(number: int, waits: str, tmp_path: Path) -> None:
    listed = lab(number)
    assert listed is not None and listed in labs()
    assert listed.check is None and not listed.playable
    assert listed.waits_for and waits in listed.waits_for
    assert listed.title and listed.lesson and listed.task
    dest = tmp_path / "lab"
    with pytest.raises(runner.LabError) as refused:
        runner.start(listed, Settings(home=tmp_path / "home"), dest, say=lambda line: None)
    message = str(refused.value)
    assert len(message.splitlines()) == 1
    assert f"Lab {number}" in message and "not playable" in message and listed.waits_for in message
    assert not dest.exists()
