"""Build: Procfile parser, .slugignore, and compile_slug with the real Python buildpack and custom ones."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from herokusim.builds import BuildError, ProcfileError, compile_slug, compiler, parse_procfile
from herokusim.builds.compiler import format_size, parse_default_process_types
from herokusim.builds.slugignore import SlugIgnore, apply_slugignore

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "python-hello"


# --- Procfile ---------------------------------------------------------------------------------------


def test_procfile_types_in_order():
    text = "web: python app.py\nworker:   python worker.py --queue high\nclock-2: python clock.py\n"
    assert parse_procfile(text) == {
        "web": "python app.py",
        "worker": "python worker.py --queue high",
        "clock-2": "python clock.py",
    }
    assert list(parse_procfile(text)) == ["web", "worker", "clock-2"]


def test_procfile_skips_blank_lines_and_comments():
    assert parse_procfile("# the web\n\n   \nweb: gunicorn app:app  # not a comment\n") == {
        "web": "gunicorn app:app  # not a comment"
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("web: ok\nweb python app.py\n", 'Procfile line 2 is not "type: command": "web python app.py"'),
        ("web:\n", 'Procfile line 1 is not "type: command": "web:"'),
        ("# c\nwe.b: x\n", 'Procfile line 2 is not "type: command": "we.b: x"'),
        ("x" * 129 + ": cmd\n", f'Procfile line 1 is not "type: command": "{"x" * 129}: cmd"'),
    ],
)
def test_procfile_malformed_line_names_its_number(text, message):
    with pytest.raises(ProcfileError) as error:
        parse_procfile(text)
    assert str(error.value) == message


# --- .slugignore ------------------------------------------------------------------------------------


def test_slugignore_matching():
    ignore = SlugIgnore("# docs\n*.psd\n/docs\ntmp/\n!keep.psd\nspec/**/fixtures\n")
    assert ignore.matches("logo.psd") and ignore.matches("assets/img/logo.psd")
    assert ignore.matches("keep.psd")  # no `!` negation on Heroku
    assert ignore.matches("docs", is_dir=True) and not ignore.matches("src/docs", is_dir=True)
    assert ignore.matches("tmp", is_dir=True) and ignore.matches("a/tmp", is_dir=True)
    assert not ignore.matches("tmp")  # `tmp/` is for directories only
    assert ignore.matches("spec/a/b/fixtures", is_dir=True)
    assert not ignore.matches("app.py") and not ignore.matches("# docs")


def test_apply_slugignore_deletes_matches(tmp_path):
    for rel in ["app.py", "docs/index.md", "art/logo.psd", "tmp/cache/x", "src/docs/keep.md"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    (tmp_path / ".slugignore").write_text("*.psd\n/docs\ntmp/\n")
    assert apply_slugignore(tmp_path) == ["art/logo.psd", "docs", "tmp"]
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == [".slugignore", "app.py", "src/docs/keep.md"]


# --- release YAML, sizes ----------------------------------------------------------------------------


def test_default_process_types_from_release_yaml():
    yaml = "---\naddons: []\ndefault_process_types:\n  web: python app.py\n  worker: 'rake jobs:work'\nconfig_vars: {}\n"
    assert parse_default_process_types(yaml) == {"web": "python app.py", "worker": "rake jobs:work"}
    assert parse_default_process_types("---\ndefault_process_types: {}\n") == {}
    assert parse_default_process_types("") == {}


def test_format_size():
    assert format_size(23 * 2**20) == "23.0M"
    assert format_size(1536) == "1.5K"


# --- compile_slug -----------------------------------------------------------------------------------


class Lines(list[str]):
    def __call__(self, line: str) -> None:
        assert "\n" not in line
        self.append(line)


def app_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "build"))


def build(source: Path, tmp_path: Path, **kwargs) -> tuple[compiler.SlugResult, Lines]:
    lines = Lines()
    result = compile_slug(
        source,
        slug_path=tmp_path / "slugs" / "slug.tgz",
        cache_dir=tmp_path / "cache",
        config=kwargs.pop("config", {}),
        emit=lines,
        **kwargs,
    )
    return result, lines


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_python_hello_builds_a_slug_that_runs_elsewhere(tmp_path):
    result, lines = build(app_copy(tmp_path), tmp_path, config={"GREETING": "hi"})

    assert lines[:3] == ["-----> Building on the Heroku-24 stack", "-----> Using buildpack: heroku/python",
                         "-----> Python app detected"]
    assert "-----> Installing requirements with pip" in lines
    discover = lines.index("-----> Discovering process types")
    assert lines[discover + 1] == "       Procfile declares types -> web"
    assert lines[discover + 2] == "-----> Compressing..."
    assert lines[-1] == f"       Done: {format_size(result.size)}"
    assert result.buildpack == "Python"
    assert result.process_types == {"web": "python app.py"}
    assert result.path == tmp_path / "slugs" / "slug.tgz"
    data = result.path.read_bytes()
    assert result.size == len(data)
    assert result.checksum == "SHA256:" + hashlib.sha256(data).hexdigest()

    with tarfile.open(result.path) as tar:
        names = tar.getnames()
    assert "app.py" in names and ".profile.d/python.sh" in names
    assert not any(name.startswith(("/", "./")) for name in names)

    # Unpack somewhere else: the dyno boot sequence of HEROKU.md §3, HOME = the slug root.
    slug_root = tmp_path / "elsewhere" / "app"
    slug_root.mkdir(parents=True)
    shutil.rmtree(tmp_path / "build")
    with tarfile.open(result.path) as tar:
        tar.extractall(slug_root, filter="tar")
    port = free_port()
    with subprocess.Popen(
        ["bash", "-c", 'for f in .profile.d/*.sh; do . "$f"; done; exec python app.py'],
        cwd=slug_root,
        env={**_base_env(), "HOME": str(slug_root), "PORT": str(port), "GREETING": "hi", "DYNO": "web.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as dyno:
        try:
            assert dyno.stdout is not None
            assert dyno.stdout.readline().strip() == f"Listening on 0.0.0.0:{port}"
            base = f"http://127.0.0.1:{port}"
            assert http_get(base + "/") == (200, "Hello from herokusim!\nGREETING=hi\n")
            assert dyno.stdout.readline().strip() == "GET / 200"  # one line per request, flushed
            assert http_get(base + "/dyno") == (200, "web.1\n")
            assert http_get(base + "/config/GREETING") == (200, "hi\n")
            assert http_get(base + "/config/NOPE")[0] == 404
        finally:
            dyno.terminate()
        assert dyno.wait(timeout=30) == -signal.SIGTERM


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GREETING", "DYNO")}


def make_wheel(directory: Path) -> Path:
    """A tiny wheel (a module and a console script), so pip installs from disk without the network."""
    wheel = directory / "hello_pkg-1.0-py3-none-any.whl"
    info = "hello_pkg-1.0.dist-info"
    files = {
        "hello_pkg/__init__.py": "WORD = 'relocated'\ndef main():\n    print('script ' + WORD)\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: hello-pkg\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": "[console_scripts]\nhello-pkg = hello_pkg:main\n",
    }
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr(f"{info}/RECORD", "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"]))
    return wheel


def test_python_buildpack_installs_packages_relocatably(tmp_path):
    wheel = make_wheel(tmp_path)
    source = tmp_path / "src"
    source.mkdir()
    (source / "requirements.txt").write_text(f"--no-index\n{wheel}\n")
    (source / "main.py").write_text("import hello_pkg\nprint(hello_pkg.WORD)\n")
    (source / "Procfile").write_text("worker: python main.py\n")
    result, lines = build(source, tmp_path)
    assert any(line.startswith("       Successfully installed hello-pkg") for line in lines)
    assert result.process_types == {"worker": "python main.py"}

    slug_root = tmp_path / "run"
    slug_root.mkdir()
    with tarfile.open(result.path) as tar:
        tar.extractall(slug_root, filter="tar")
    shutil.rmtree(source)
    run = subprocess.run(
        ["bash", "-c", 'for f in .profile.d/*.sh; do . "$f"; done; python main.py && hello-pkg'],
        check=False,
        cwd=slug_root,
        env={**_base_env(), "HOME": str(slug_root)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.stdout == "relocated\nscript relocated\n", run.stderr


def test_release_defaults_when_there_is_no_procfile(tmp_path):
    source = app_copy(tmp_path)
    (source / "Procfile").unlink()
    result, lines = build(source, tmp_path)
    assert "       Default types for buildpack -> web" in lines
    assert result.process_types == {"web": "python app.py"}


def test_slugignore_applies_before_the_build(tmp_path):
    source = app_copy(tmp_path)
    (source / "docs").mkdir()
    (source / "docs" / "big.pdf").write_text("x")
    (source / ".slugignore").write_text("/docs\n*.md\n")
    result, _ = build(source, tmp_path)
    with tarfile.open(result.path) as tar:
        names = tar.getnames()
    assert "app.py" in names
    assert not any(name.startswith("docs") or name.endswith(".md") for name in names)


def test_no_buildpack_detects_a_readme_only_app(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "README.md").write_text("# nothing to run\n")
    with pytest.raises(BuildError, match="^App not compatible with buildpack$"):
        build(source, tmp_path)


def test_no_buildpack_emits_the_reason(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "README.md").write_text("# nothing to run\n")
    lines = Lines()
    with pytest.raises(BuildError):
        compile_slug(source, slug_path=tmp_path / "s.tgz", cache_dir=tmp_path / "c", config={}, emit=lines)
    assert " !     No default language could be detected for this app." in lines
    assert not (tmp_path / "s.tgz").exists()


def test_no_buildpack_hint_names_only_fixes_herokusim_has(tmp_path):
    """The hint's advice works as written: the command that sets a buildpack, and files a built-in detects."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "README.md").write_text("# nothing to run\n")
    lines = Lines()
    with pytest.raises(BuildError):
        compile_slug(source, slug_path=tmp_path / "s.tgz", cache_dir=tmp_path / "c", config={}, emit=lines)
    hint = " ".join(line.strip() for line in lines if line.startswith("\t\t\t"))
    assert "buildpack that supports" not in hint
    assert "`herokusim buildpacks:set heroku/python`" in hint
    assert "requirements.txt, pyproject.toml or setup.py" in hint
    for advice in ("requirements.txt", "Procfile"):  # files the hint names make the app detectable
        shutil.rmtree(tmp_path / "c", ignore_errors=True)
        (source / advice).write_text("web: python app.py\n" if advice == "Procfile" else "")
        result = compile_slug(source, slug_path=tmp_path / "s.tgz", cache_dir=tmp_path / "c", config={},
                              emit=Lines())
        assert result.buildpack == "Python"
        (source / advice).unlink()


def test_malformed_procfile_fails_the_build_naming_the_line(tmp_path):
    source = app_copy(tmp_path)
    (source / "Procfile").write_text("web: python app.py\nworker python worker.py\n")
    with pytest.raises(BuildError) as error:
        build(source, tmp_path)
    assert str(error.value) == 'Procfile line 2 is not "type: command": "worker python worker.py"'


# --- custom buildpacks ------------------------------------------------------------------------------


def make_buildpack(root: Path, name: str, compile_body: str, release: str | None = None) -> Path:
    bp = root / name
    (bp / "bin").mkdir(parents=True)
    scripts = {
        "detect": f"#!/usr/bin/env bash\necho {name}\n",
        "compile": "#!/usr/bin/env bash\nBUILD_DIR=$1 CACHE_DIR=$2 ENV_DIR=$3\n" + compile_body,
    }
    if release is not None:
        scripts["release"] = f"#!/usr/bin/env bash\ncat <<'YAML'\n{release}YAML\n"
    for script, body in scripts.items():
        (bp / "bin" / script).write_text(body)
        (bp / "bin" / script).chmod(0o755)
    return bp


def bare_app(tmp_path: Path, procfile: str | None = None) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    (source / "index.txt").write_text("hi\n")
    if procfile is not None:
        (source / "Procfile").write_text(procfile)
    return source


def test_failing_buildpack_streams_its_output_then_fails(tmp_path):
    bp = make_buildpack(
        tmp_path / "bps", "Broken", 'echo "-----> Doing things"\necho "       oops" >&2\nexit 3\n'
    )
    lines = Lines()
    with pytest.raises(BuildError, match="^Failed to compile Broken app$"):
        compile_slug(
            bare_app(tmp_path),
            slug_path=tmp_path / "s.tgz",
            cache_dir=tmp_path / "c",
            config={},
            emit=lines,
            buildpacks=[bp],
        )
    assert lines == [
        "-----> Building on the Heroku-24 stack",
        f"-----> Using buildpack: {bp}",
        "-----> Broken app detected",
        "-----> Doing things",
        "       oops",
    ]


def test_compile_output_is_emitted_live(tmp_path):
    bp = make_buildpack(tmp_path / "bps", "Slow", "echo first\nsleep 1.5\necho second\n")
    seen: dict[str, float] = {}

    def emit(line: str) -> None:
        seen[line] = time.monotonic()

    compile_slug(
        bare_app(tmp_path, "web: ./run\n"),
        slug_path=tmp_path / "s.tgz",
        cache_dir=tmp_path / "c",
        config={},
        emit=emit,
        buildpacks=[bp],
    )
    assert seen["second"] - seen["first"] > 1.0


def test_export_of_one_buildpack_is_sourced_before_the_next(tmp_path):
    first = make_buildpack(
        tmp_path / "bps",
        "First",
        'echo "export FROM_FIRST=tool-path" > "$(dirname "$0")/../export"\n',
        release="---\ndefault_process_types:\n  web: first-web\n  worker: first-worker\n",
    )
    second = make_buildpack(
        tmp_path / "bps",
        "Second",
        'echo "       FROM_FIRST=$FROM_FIRST"\n',
        release="---\ndefault_process_types:\n  web: second-web\n",
    )
    source = bare_app(tmp_path)
    result, lines = build(source, tmp_path, buildpacks=[first, second])
    assert "       FROM_FIRST=tool-path" in lines
    assert lines[1:4] == ["-----> Using buildpacks:", f"       1. {first}", f"       2. {second}"]
    assert lines.index("-----> First app detected") < lines.index("-----> Second app detected")
    # The last buildpack's defaults win; the buildpacks' own dirs stay clean.
    assert result.process_types == {"web": "second-web", "worker": "first-worker"}
    assert result.buildpack == "Second"
    assert not (first / "export").exists()


def test_config_vars_are_in_env_dir_not_in_the_environment(tmp_path):
    bp = make_buildpack(
        tmp_path / "bps",
        "Env",
        'for f in "$ENV_DIR"/*; do echo "file $(basename "$f")=$(cat "$f")"; done\n'
        'echo "env SECRET_KEY=${SECRET_KEY-unset} STACK=$STACK"\n'
        'echo "cache $CACHE_DIR"\n',
    )
    result, lines = build(
        bare_app(tmp_path, "web: ./run\n"),
        tmp_path,
        buildpacks=[bp],
        config={"SECRET_KEY": "abc 123", "HEROKUSIM_TEST_VAR": "two"},
    )
    assert "file HEROKUSIM_TEST_VAR=two" in lines
    assert "file SECRET_KEY=abc 123" in lines
    assert "env SECRET_KEY=unset STACK=heroku-24" in lines
    assert f"cache {tmp_path / 'cache'}" in lines
    assert result.process_types == {"web": "./run"}


def test_explicit_buildpack_that_declines_the_app(tmp_path):
    bp = make_buildpack(tmp_path / "bps", "Picky", "true\n")
    (bp / "bin" / "detect").write_text("#!/usr/bin/env bash\nexit 1\n")
    with pytest.raises(BuildError, match="^App not compatible with buildpack$"):
        build(bare_app(tmp_path), tmp_path, buildpacks=[bp])


def test_hung_buildpack_times_out(tmp_path):
    bp = make_buildpack(tmp_path / "bps", "Hung", "echo starting\nsleep 60 &\nsleep 60\n")
    started = time.monotonic()
    with pytest.raises(BuildError, match=r"^Timed out compiling Hung app \(1.5 seconds\)$"):
        build(bare_app(tmp_path), tmp_path, buildpacks=[bp], timeout=1.5)
    assert time.monotonic() - started < 30, "not waiting for the buildpack's `sleep 60`s"


def test_slug_limits(tmp_path, monkeypatch):
    bp = make_buildpack(tmp_path / "bps", "Big", "head -c 200000 /dev/urandom > $BUILD_DIR/blob\n")
    monkeypatch.setattr(compiler, "SLUG_SOFT_LIMIT", 100_000)
    result, lines = build(bare_app(tmp_path, "web: ./run\n"), tmp_path, buildpacks=[bp])
    assert any(line.startswith(" !     Warning: Your slug size") for line in lines)
    assert result.path.exists()

    monkeypatch.setattr(compiler, "SLUG_HARD_LIMIT", 150_000)
    shutil.rmtree(tmp_path / "src")
    with pytest.raises(BuildError, match="^Compiled slug size: .* is too large"):
        build(bare_app(tmp_path, "web: ./run\n"), tmp_path, buildpacks=[bp])
    assert not (tmp_path / "slugs" / "slug.tgz").exists()


def test_slug_keeps_symlinks_and_exec_bits(tmp_path):
    bp = make_buildpack(
        tmp_path / "bps",
        "Tools",
        'mkdir -p "$BUILD_DIR/bin"; printf "#!/bin/sh\\necho ok\\n" > "$BUILD_DIR/bin/tool"\n'
        'chmod +x "$BUILD_DIR/bin/tool"; ln -s bin/tool "$BUILD_DIR/tool-link"\n',
    )
    result, _ = build(bare_app(tmp_path, "web: ./run\n"), tmp_path, buildpacks=[bp])
    with tarfile.open(result.path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["bin/tool"].mode & 0o111
    assert members["tool-link"].issym() and members["tool-link"].linkname == "bin/tool"
    assert not members["index.txt"].mode & 0o111


def test_a_running_builds_output_reaches_readers_as_it_is_written() -> None:
    """output_stream_url streams a build while it runs: readers get each line before the build ends."""
    import asyncio

    from herokusim.builds.service import LiveOutput

    async def scenario() -> None:
        live = LiveOutput()
        live.add("-----> Building on the Heroku-24 stack")
        batches: list[list[str]] = []

        async def read() -> None:
            async for batch in live.follow():
                batches.append(batch)

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.01)
        assert batches == [["-----> Building on the Heroku-24 stack"]], "what was written so far, at once"
        live.add("-----> Python app detected")
        live.add("       Released v2")
        await asyncio.sleep(0.01)
        assert batches[-1] == ["-----> Python app detected", "       Released v2"] and not reader.done()
        live.finish()
        await asyncio.wait_for(reader, 30)

    asyncio.run(scenario())
