"""Builds on the Docker runtime: buildpacks run in a build container from the stack image, with the same
contract as on the process runtime (STACK, BUILD_DIR, CACHE_DIR, ENV_DIR), a cache that survives, and the
same slug tar.gz."""

from __future__ import annotations

import tarfile
from pathlib import Path

import docker
import pytest
from conftest import remove_docker_leftovers

from herokusim.builds.compiler import BuildError, compile_slug
from herokusim.builds.container import ContainerBuildHost, outermost
from herokusim.stack import StackImage

PROBE_COMPILE = """#!/usr/bin/env bash
set -euo pipefail
BUILD_DIR=$1 CACHE_DIR=$2 ENV_DIR=$3
echo "-----> Probing"
echo "       stack=$STACK"
echo "       in-container=$(test -f /.dockerenv && echo yes || echo no)"
echo "       env-dir=$(ls "$ENV_DIR" | tr '\\n' ' ')"
echo "       secret-in-env=${SECRET:-unset}"
echo "       $(python3 --version)"
n=$(cat "$CACHE_DIR/builds" 2>/dev/null || echo 0)
echo $((n + 1)) > "$CACHE_DIR/builds"
echo "       build=$((n + 1))"
echo "built by the stack" > "$BUILD_DIR/built.txt"
"""


@pytest.fixture
def host(tmp_path: Path, docker_stack: str):  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    home.mkdir()
    try:
        client = docker.from_env()
        yield ContainerBuildHost(client, StackImage.built(client, docker_stack), home)
    finally:
        remove_docker_leftovers(home)


def probe_buildpack(tmp_path: Path) -> Path:
    bp = tmp_path / "probe-buildpack"
    (bp / "bin").mkdir(parents=True)
    scripts = {
        "detect": "#!/usr/bin/env bash\necho Probe\n",
        "compile": PROBE_COMPILE,
        "release": "#!/usr/bin/env bash\necho '---'\necho 'default_process_types:'\necho '  web: python app.py'\n",
    }
    for name, text in scripts.items():
        (bp / "bin" / name).write_text(text)
        (bp / "bin" / name).chmod(0o755)
    return bp


def source(tmp_path: Path, name: str) -> Path:
    src = tmp_path / name
    src.mkdir()
    (src / "app.py").write_text("print('hi')\n")
    return src


def test_buildpacks_run_in_the_stack_with_the_same_contract(host: ContainerBuildHost, tmp_path: Path) -> None:
    bp = probe_buildpack(tmp_path)
    cache = tmp_path / "cache"
    outputs = []
    for n in (1, 2):
        lines: list[str] = []
        result = compile_slug(source(tmp_path, f"src{n}"), slug_path=tmp_path / f"slug{n}.tar.gz", cache_dir=cache,
                              config={"SECRET": "s3cret", "OTHER": "x"}, emit=lines.append, buildpacks=[bp],
                              host=host)
        outputs.append("\n".join(lines))
        assert result.process_types == {"web": "python app.py"}
        with tarfile.open(result.path) as tar:
            assert {"app.py", "built.txt"} <= set(tar.getnames())
    first, second = outputs
    assert "-----> Building on the Heroku-24 stack" in first
    assert "       stack=heroku-24" in first
    assert "       in-container=yes" in first
    assert "       env-dir=OTHER SECRET" in first
    assert "       secret-in-env=unset" in first, "config vars are in ENV_DIR only"
    assert "Python 3." in first
    assert "       build=1" in first and "       build=2" in second, "the cache survives between builds"


def test_a_failing_buildpack_fails_the_build_in_a_container(host: ContainerBuildHost, tmp_path: Path) -> None:
    bp = probe_buildpack(tmp_path)
    (bp / "bin" / "compile").write_text("#!/usr/bin/env bash\necho '-----> about to fail'\nexit 3\n")
    lines: list[str] = []
    with pytest.raises(BuildError, match="Failed to compile Probe app"):
        compile_slug(source(tmp_path, "src"), slug_path=tmp_path / "slug.tar.gz", cache_dir=tmp_path / "cache",
                     config={}, emit=lines.append, buildpacks=[bp], host=host)
    assert "-----> about to fail" in lines


def test_mounts_are_the_outermost_paths(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert outermost([a / "x", a, b / "y", a / "x" / "z"]) == [a, b / "y"]


def test_buildpacks_are_read_only_in_the_build_container(host: ContainerBuildHost, tmp_path: Path) -> None:
    # code a build runs (here bin/detect itself) must not change the scripts later builds run
    bp = probe_buildpack(tmp_path)
    (bp / "bin" / "detect").write_text('#!/usr/bin/env bash\ntouch "$(dirname "$0")/../tampered"\necho Probe\n')
    compile_slug(source(tmp_path, "src"), slug_path=tmp_path / "slug.tar.gz", cache_dir=tmp_path / "cache",
                 config={}, emit=lambda line: None, buildpacks=[bp], host=host)
    assert not (bp / "tampered").exists()


def test_nothing_in_the_build_container_runs_once_the_host_reads_the_build_dir(
        host: ContainerBuildHost, tmp_path: Path) -> None:
    # a build leaves a process behind that keeps changing the build dir (it could swap a file the host is
    # about to read or pack for a link to a host file); by the time compile_slug reads and packs, it is gone
    bp = probe_buildpack(tmp_path)
    (bp / "bin" / "compile").write_text(
        "#!/usr/bin/env bash\n"
        "nohup bash -c 'while true; do date +%s%N > \"$0/tick\"; sleep 0.01; done' \"$1\" >/dev/null 2>&1 &\n")
    compile_slug(source(tmp_path, "src"), slug_path=tmp_path / "slug.tar.gz", cache_dir=tmp_path / "cache",
                 config={}, emit=lambda line: None, buildpacks=[bp], host=host)
    running = [c.name for c in docker.from_env().containers.list(ignore_removed=True, filters={
        "label": [f"herokusim.home={host.home}", "herokusim.role=build"], "status": "running"})]
    assert running == [], "the build container still runs after the build"
