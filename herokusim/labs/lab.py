"""labs/lab: what a lab is — the lesson, the flawed app, the task, the fix and the check that tells them apart.

A lab is data plus one check function. Its flawed app is `herokusim/labs/fixtures/<slug>/` (a small app a
student can read, with a README.md that states the task); its solution is `herokusim/labs/solutions/<slug>/`:
files that replace or join the fixture's (a SOLUTION.md says what changed and why). `labs:start` copies the
fixture into a new git checkout, creates the lab's app(s) and deploys; `labs:check` runs `check` against the
live platform through a CheckContext (labs/context.py): the API, the router, the logs, the simulated clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from herokusim.labs.context import CheckContext

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
SOLUTIONS = HERE / "solutions"


@dataclass(frozen=True)
class CheckResult:
    """What a check found. `passed`: True, False, or None when it could not decide (daemon down, app
    missing, the platform busy): then `observation` says why and the student is not told they failed.
    On a fail, `observation` is the one thing seen that shows why (a router line, an H-code, a number) and
    `hint` points at the fix without giving it away."""

    passed: bool | None
    observation: str
    hint: str = ""

    @staticmethod
    def ok(observation: str) -> CheckResult:
        return CheckResult(True, observation)

    @staticmethod
    def fail(observation: str, hint: str) -> CheckResult:
        return CheckResult(False, observation, hint)

    @staticmethod
    def undecided(why: str) -> CheckResult:
        return CheckResult(None, why)


Check = Callable[["CheckContext"], CheckResult]


@dataclass(frozen=True)
class Lab:
    number: int  # 1..21, LABS.md's order
    slug: str  # `ephemeral-filesystem`: the fixture's and solution's directory name
    title: str  # `The ephemeral filesystem`
    lesson: str  # one or two sentences: what running on Heroku teaches here
    task: str  # a few lines printed by labs:start: what to look at, what to change, how to check
    check: Check | None = None  # None: not playable yet (see waits_for)
    # the lab's apps: the first is the one the checkout deploys to (remote `herokusim`); more for labs that
    # need several (staging and production). Names are made unique per student by labs:start.
    apps: tuple[str, ...] = ("app",)
    addons: tuple[str, ...] = ()  # created at start, before the first deploy: `heroku-postgresql`
    config: dict[str, str] = field(default_factory=dict)  # config vars set at start
    formation: dict[str, int] = field(default_factory=dict)  # scaled at start after the deploy: {"web": 3}
    sizes: dict[str, str] = field(default_factory=dict)  # dyno sizes set at start: {"web": "performance-l"}
    waits_for: str | None = None  # what herokusim lacks for it: `log drains`; the lab is listed, not playable
    check_describes: str = ""  # one paragraph for teachers (labs:export): what the check does and accepts
    # a fix that is not (only) files: run after the solution's files are committed, before the push — e.g.
    # `solve(state, settings, ctx)` adds a second remote, scales, or warps the clock (see labs/runner.py)
    solve: Callable[..., None] | None = None
    # an earlier version of the app, deployed before the fixture: a directory under fixtures/ that labs:start
    # commits and pushes first, then the fixture is committed over it and pushed (lab 10: a good deploy, then
    # the bad one the student rolls back)
    earlier: str | None = None

    @property
    def fixture_dir(self) -> Path:
        return FIXTURES / self.slug

    @property
    def solution_dir(self) -> Path:
        return SOLUTIONS / self.slug

    @property
    def playable(self) -> bool:
        return self.check is not None and self.waits_for is None
