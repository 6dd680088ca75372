"""labs/progress: where a student is in each lab — kept in the daemon's store through herokusim's own API
(`GET /labs`, `GET/PUT/DELETE /labs/{number}`, api/labs_api.py) — and the `.herokusim-lab` file labs:start
writes into a lab's checkout, so `labs:check` run inside it knows which lab and apps it is about. The CLI's
labs:* commands and the TUI's labs screen both record through here.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from herokusim.client import Client
from herokusim.labs import catalogue
from herokusim.labs.lab import CheckResult, Lab
from herokusim.labs.runner import LabError, LabState

MARKER = ".herokusim-lab"  # JSON: {"number": 6, "apps": {"app": "lab6-port-7f2c"}, "created": "..."}


def default_dir(lab: Lab) -> Path:
    """`./lab06-port-r10`: the checkout labs:start makes when no --dir is given."""
    return Path(f"lab{lab.number:02d}-{lab.slug}")


def find_lab(number: int) -> Lab:
    found = catalogue.lab(number)
    if found is None:
        known = [lab.number for lab in catalogue.labs()]
        raise LabError(f"There is no lab {number}: the labs are {', '.join(map(str, known))} "
                       "(see `herokusim labs`).")
    return found


# the checkout's marker
def write_marker(state: LabState) -> None:
    marker = {"number": state.lab.number, "apps": state.apps,
              "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}
    (state.checkout / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    # the marker is the student's tool, not their app: git leaves it out of every commit
    exclude = state.checkout / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with exclude.open("a") as out:
        out.write(f"{MARKER}\n")


def read_marker(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """The lab checkout at or above `start` and its marker, or None outside a lab's checkout."""
    for directory in (start.resolve(), *start.resolve().parents):
        path = directory / MARKER
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                raise LabError(f"{path} is not a lab's marker (JSON): start the lab again.") from None
            if not isinstance(data, dict) or not isinstance(data.get("number"), int) \
                    or not isinstance(data.get("apps"), dict) or not data["apps"]:
                raise LabError(f"{path} is not a lab's marker: start the lab again.")
            return directory, data
    return None


# the daemon's record
def record(api: Client, number: int) -> dict[str, Any]:
    return api.get(f"/labs/{number}")  # type: ignore[no-any-return]


def records(api: Client) -> dict[int, dict[str, Any]]:
    return {r["number"]: r for r in api.get("/labs")}


def record_start(api: Client, state: LabState) -> dict[str, Any]:
    return api.request("PUT", f"/labs/{state.lab.number}",  # type: ignore[no-any-return]
                       json={"state": "started", "apps": state.apps, "checkout": str(state.checkout),
                             "last_check": None})


def record_check(api: Client, state: LabState, result: CheckResult) -> dict[str, Any]:
    """The check's result; a pass makes the lab `passed` (and it stays passed until labs:reset)."""
    known = record(api, state.lab.number)
    passed = result.passed is True or known.get("state") == "passed"
    at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return api.request("PUT", f"/labs/{state.lab.number}",  # type: ignore[no-any-return]
                       json={"state": "passed" if passed else "started", "apps": state.apps,
                             "checkout": str(state.checkout),
                             "last_check": {"passed": result.passed, "observation": result.observation,
                                            "hint": result.hint, "at": at}})


def state_text(lab: Lab, found: dict[str, Any] | None) -> str:
    """`not started`, `started`, `passed`, or `waits for log drains` for a lab not playable yet."""
    if not lab.playable:
        return f"waits for {lab.waits_for or 'its check'}"
    return found["state"] if found else "not started"


def state_of(found: dict[str, Any], lab: Lab) -> LabState:
    """A started lab as the runner knows it, from its record."""
    if not found.get("apps") or not found.get("checkout"):
        raise LabError(f"Lab {lab.number} is not started: run `herokusim labs:start {lab.number}`.")
    return LabState(lab, Path(found["checkout"]), dict(found["apps"]))


# labs:export — every lab as plain files, for teachers
def export(dest: Path) -> list[Path]:
    """DEST/labNN-slug/ for each lab: fixture/ (the flawed app, its README.md the task), solution/ (with
    SOLUTION.md) and CHECK.md (the lesson, the task as printed, what the check does). The directories made."""
    made = []
    dest.mkdir(parents=True, exist_ok=True)
    for lab in catalogue.labs():
        where = dest / default_dir(lab).name
        where.mkdir(exist_ok=True)
        if lab.fixture_dir.is_dir():
            shutil.copytree(lab.fixture_dir, where / "fixture", dirs_exist_ok=True)
        if lab.solution_dir.is_dir():
            shutil.copytree(lab.solution_dir, where / "solution", dirs_exist_ok=True)
        waits = f"\n_Not playable yet: waits for {lab.waits_for}._\n" if lab.waits_for else ""
        (where / "CHECK.md").write_text(
            f"# Lab {lab.number}: {lab.title}\n{waits}\n## Lesson\n\n{lab.lesson}\n\n## Task (labs:start prints)\n\n"
            f"{lab.task}\n\n## The check (labs:check)\n\n{lab.check_describes or 'No description yet.'}\n")
        made.append(where)
    return made
