"""herokusim installed from its wheel runs on its own: built from this checkout (sdist, then the wheel from the
sdist), installed into a fresh venv and run from outside the repo, its daemon builds a pushed app with the
built-in buildpacks the wheel carries and serves it through the router."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, checkout_of, git, start_daemon, stop_daemon, wait_for

# building and installing (the dependencies come from the package index, or pip's cache)
pytestmark = pytest.mark.timeout(900)

BUILTIN_SCRIPTS = ("bin/detect", "bin/compile", "bin/release")


def run(*argv: str | Path, cwd: Path, timeout: float = 600) -> str:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)  # nothing may lead the venv back to this checkout
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def only(paths: list[Path]) -> Path:
    assert len(paths) == 1, paths
    return paths[0]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT, cwd=out)
    return out


def test_the_distributions_carry_the_buildpacks_and_no_tests(dist: Path) -> None:
    with zipfile.ZipFile(only(list(dist.glob("*.whl")))) as wheel:
        modes = {info.filename: info.external_attr >> 16 for info in wheel.infolist()}
    with tarfile.open(only(list(dist.glob("*.tar.gz")))) as sdist:
        in_sdist = [name.split("/", 1)[1] for name in sdist.getnames() if "/" in name]
    for script in BUILTIN_SCRIPTS:
        mode = modes[f"herokusim/buildpacks/python/{script}"]
        assert mode & stat.S_IXUSR, f"{script} lost its executable bit in the wheel: {oct(mode)}"
    assert "buildpacks/python/bin/compile" in in_sdist
    # the labs' flawed apps and solutions are data files of herokusim.labs (labs:start copies them)
    assert "herokusim/labs/fixtures/port-r10/Procfile" in modes
    assert "herokusim/labs/solutions/port-r10/SOLUTION.md" in modes
    assert "herokusim/labs/fixtures/port-r10/Procfile" in in_sdist
    for top in ("tests/", "fixtures/", "bench/"):
        assert not [name for name in modes if name.startswith(top)], f"the wheel carries {top}"
        assert not [name for name in in_sdist if name.startswith(top)], f"the sdist carries {top}"


def test_an_installed_wheel_builds_and_serves_a_pushed_app(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    outside = tmp_path / "elsewhere"  # cwd of everything the venv runs: not the repo, so not its herokusim
    outside.mkdir()
    run(sys.executable, "-m", "venv", venv, cwd=outside)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", only(list(dist.glob("*.whl"))), cwd=outside)

    where = run(python, "-c", "import herokusim; from herokusim.builds import compiler; "
                "print(herokusim.__file__); print(compiler.BUILTIN_BUILDPACKS)", cwd=outside).split("\n")
    package, buildpacks = Path(where[0]), Path(where[1])
    assert package.is_relative_to(venv), f"herokusim imported from {package}, not from the wheel"
    assert buildpacks.is_relative_to(venv), f"the built-in buildpacks found at {buildpacks}, not in the wheel"
    for script in BUILTIN_SCRIPTS:
        assert os.access(buildpacks / "python" / script, os.X_OK), f"{script} is not executable once installed"
    fixture = Path(run(python, "-c", "from herokusim.labs.catalogue import lab; "
                       "print(lab(6).fixture_dir / 'Procfile')", cwd=outside).strip())
    assert fixture.is_relative_to(venv) and fixture.is_file(), f"lab 6's fixture is not installed: {fixture}"

    daemon = start_daemon(tmp_path / "home", program=[str(venv / "bin" / "herokusim")], cwd=outside)
    try:
        repo = checkout_of("python-hello", tmp_path / "python-hello")
        created = daemon.cli("apps:create", "wheelie", cwd=repo)
        assert created.returncode == 0, created.stderr
        push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
        assert push.returncode == 0, push.stderr
        assert "remote: -----> Python app detected" in push.stderr
        response = wait_for(lambda: (r := daemon.get("wheelie.localhost")).status_code == 200 and r,
                            message="the app to answer through the router")
        assert "Hello from herokusim!" in response.text
    finally:
        stop_daemon(daemon)
