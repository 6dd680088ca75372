"""The pytest plugin (herokusim/testing/pytest_plugin.py) used as a user would: pytester runs small test files
in a subprocess against fixtures/ apps, and the README's example as written."""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
MODULE = "herokusim.testing.pytest_plugin"


def _installed_entry_point() -> bool:
    """Whether this environment's herokusim declares the plugin (a venv install does; an older editable
    install of another checkout may not, and then the run loads it with -p)."""
    return any(ep.value == MODULE for ep in metadata.entry_points(group="pytest11"))


@pytest.fixture(autouse=True)
def user_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """This checkout's herokusim first on the path of the user's pytest (and its daemon)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("HEROKUSIM_STOP_GRACE", "3")  # a documented setting: quicker restarts


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in a subprocess, as a user's suite would run (the plugin through its entry point if installed)."""
    plugin = [] if _installed_entry_point() else ["-p", MODULE]
    return pytester.runpytest_subprocess(*plugin, "-p", "no:cacheprovider", *args, timeout=600)


def test_pyproject_declares_the_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"herokusim": MODULE}


USER_TESTS = '''
from pathlib import Path

HELLO = Path({hello!r})


def test_deploy_restart_and_logs(deploy):
    app = deploy(HELLO, config={{"GREETING": "hi"}})
    first = app.client.get("/")
    assert first.status_code == 200 and "GREETING=hi" in first.text
    lines = app.router_lines()
    assert any(line.get("status") == "200" and line.get("path") == "/" for line in lines), lines
    app.restart()
    assert app.client.get("/").status_code == 200
    assert any("heroku[web.1]" in line for line in app.logs())
    assert app.run("echo one-off says hi").strip() == "one-off says hi"
    Path("app-name").write_text(app.name)


def test_after(herokusim, request):
    name = Path("app-name").read_text()
    names = [a["name"] for a in herokusim.api.get("/apps")]
    assert (name in names) == request.config.getoption("--herokusim-keep"), names
'''


def test_deploy_client_router_lines_restart_logs_and_cleanup(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS.format(hello=str(FIXTURES / "python-hello")))
    result = run(pytester, "-q")
    result.assert_outcomes(passed=2)


def test_keep_keeps_the_app(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS.format(hello=str(FIXTURES / "python-hello")))
    result = run(pytester, "-q", "-s", "--herokusim-keep")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*herokusim: kept pt-test-deploy-restart-*"])


def test_inert_without_its_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain='''
def test_plain(request):
    assert request.config.pluginmanager.hasplugin("herokusim") or request.config.pluginmanager.hasplugin(
        "herokusim.testing.pytest_plugin")
    assert request.config.getoption("--herokusim-runtime") == "process"
''')
    result = run(pytester, "-q")
    result.assert_outcomes(passed=1)
    temp = [p for p in pytester.path.rglob("*") if p.name.startswith("herokusim") or p.name == "daemon.log"]
    assert temp == []  # no private daemon home was made: no daemon started


def test_bad_deploy_path_is_one_clear_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad='''
def test_bad(deploy):
    deploy("/nonexistent/app")
''')
    result = run(pytester, "-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*HerokusimError: deploy: /nonexistent/app is not a directory*"])


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Testing your app with pytest", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1
    return blocks[0]


def test_readme_example_runs_as_written(pytester: pytest.Pytester) -> None:
    """The Flask example: the app at the repository's root, the test in tests/ (pip fetches Flask)."""
    shutil.copytree(FIXTURES / "flask-sessions", pytester.path, dirs_exist_ok=True)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_on_heroku.py").write_text(readme_example())
    result = run(pytester, "-q", "tests/test_on_heroku.py")
    result.assert_outcomes(passed=1)
