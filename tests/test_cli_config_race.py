"""CLI room: `config:set` to the value it read and `config:unset` of a var it read as unset still send the
change, so a value another client wrote in between does not win over the user's.

A stand-in API answers the CLI (no daemon): it lets another client change the var right after the CLI reads the
config vars, the one moment a real race would need to hit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from herokusim.cli import config_cmds
from herokusim.cli.main import main


class RacedApi:
    """An app's config vars and release count, where another client sets `raced` to `theirs` right after each
    read of the config vars."""

    def __init__(self, config: dict[str, str], raced: str, theirs: str) -> None:
        self.config = config
        self.raced, self.theirs = raced, theirs
        self.version = 2

    def get(self, path: str, **_: Any) -> dict[str, str]:
        assert path == "/apps/demo/config-vars", path
        seen = dict(self.config)
        self._change({self.raced: self.theirs})  # the other client, just after the read
        return seen

    def patch(self, path: str, changes: dict[str, str | None]) -> dict[str, str]:
        assert path == "/apps/demo/config-vars", path
        self._change(changes)
        return dict(self.config)

    def latest_release(self, app: str) -> dict[str, Any]:
        return {"version": self.version}

    def close(self) -> None:
        pass

    def _change(self, changes: dict[str, str | None]) -> None:
        config = {k: v for k, v in {**self.config, **changes}.items() if v is not None}
        if config != self.config:  # as the API: a release only for a change
            self.config = config
            self.version += 1


def run_against(api: RacedApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config_cmds, "api_client", lambda: api)
    result = CliRunner().invoke(main, [*args, "-a", "demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_set_to_the_value_read_still_wins_over_a_change_made_meanwhile(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    api = RacedApi({"GREETING": "hi"}, "GREETING", "bye")
    output = run_against(api, monkeypatch, tmp_path, "config:set", "GREETING=hi")
    assert api.config == {"GREETING": "hi"}, "the user's value is the one set"
    assert "nothing changed" not in output, output
    assert "v4" in output, "the release the user's change made is named"


def test_unset_of_a_var_read_as_unset_still_unsets_one_set_meanwhile(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    api = RacedApi({"GREETING": "hi"}, "NOPE", "set-by-another")
    output = run_against(api, monkeypatch, tmp_path, "config:unset", "NOPE")
    assert api.config == {"GREETING": "hi"}, "the var the user unset is unset"
    assert "nothing changed" not in output, output
    assert "v4" in output, "the release the user's change made is named"
