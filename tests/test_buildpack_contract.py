"""The classic buildpack contract (Heroku's Buildpack API), proved with buildpacks written here and, where
behaviour could differ, on both runtimes: locally and in a build container from the stack image.

bin/detect, bin/compile BUILD_DIR CACHE_DIR ENV_DIR (STACK and SOURCE_VERSION in its environment, config vars
only as files), output streamed live, bin/release YAML of any style, scripts that are not executable, hang or
exit non-zero; then, through a daemon: .profile.d at dyno start, the cache kept per app across pushes,
`builds:cache:purge` and `DELETE /apps/{app}/build-cache`, and HEROKUSIM_BUILD_TIMEOUT."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Daemon, checkout_of, git, remove_docker_leftovers, start_daemon, stop_daemon, wait_for

from herokusim.builds.compiler import LOCAL, BuildError, BuildHost, compile_slug, parse_release

# --- buildpacks written by the tests ---------------------------------------------------------------------


def make_buildpack(root: Path, name: str, compile_body: str = "true\n", release: str | None = None,
                   detect: str | None = None) -> Path:
    bp = root / name.replace(" ", "-").lower()
    (bp / "bin").mkdir(parents=True)
    scripts = {
        "detect": detect if detect is not None else f"#!/usr/bin/env bash\necho '{name}'\n",
        "compile": "#!/usr/bin/env bash\nset -e\n" + compile_body,
    }
    if release is not None:
        scripts["release"] = f"#!/usr/bin/env bash\ncat <<YAML\n{release}YAML\n"
    for script, body in scripts.items():
        (bp / "bin" / script).write_text(body)
        (bp / "bin" / script).chmod(0o755)
    return bp


def bare_app(tmp_path: Path, procfile: str | None = None, name: str = "src") -> Path:
    source = tmp_path / name
    source.mkdir()
    (source / "index.txt").write_text("hi\n")
    if procfile is not None:
        (source / "Procfile").write_text(procfile)
    return source


@pytest.fixture(params=["process", "docker"])
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BuildHost]:
    """Where the buildpacks run: here (the process runtime), or in a build container (the Docker runtime's)."""
    if request.param == "process":
        yield LOCAL
        return
    image = request.getfixturevalue("docker_stack")  # skips, saying why, where no Docker engine answers
    import docker

    from herokusim.builds.container import ContainerBuildHost
    from herokusim.stack import StackImage

    home = tmp_path / "home"
    home.mkdir()
    client = docker.from_env()
    try:
        yield ContainerBuildHost(client, StackImage.built(client, image), home)
    finally:
        remove_docker_leftovers(home)


def build(source: Path, tmp_path: Path, buildpacks: list[Path], host: BuildHost, **kwargs: object
          ) -> tuple[object, list[str]]:
    lines: list[str] = []
    result = compile_slug(source, slug_path=tmp_path / "slugs" / "slug.tgz",
                          cache_dir=kwargs.pop("cache_dir", tmp_path / "cache"),  # type: ignore[arg-type]
                          config=kwargs.pop("config", {}), emit=lines.append,  # type: ignore[arg-type]
                          buildpacks=buildpacks, host=host, **kwargs)  # type: ignore[arg-type]
    return result, lines


def failing_build(source: Path, tmp_path: Path, buildpacks: list[Path], host: BuildHost, **kwargs: object
                  ) -> tuple[str, list[str]]:
    lines: list[str] = []
    with pytest.raises(BuildError) as error:
        compile_slug(source, slug_path=tmp_path / "slugs" / "slug.tgz", cache_dir=tmp_path / "cache", config={},
                     emit=lines.append, buildpacks=buildpacks, host=host, **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "slugs" / "slug.tgz").exists(), "a failed build leaves no slug"
    return str(error.value), lines


# --- bin/compile's arguments and environment --------------------------------------------------------------


def test_compile_gets_its_dirs_and_the_build_environment(host: BuildHost, tmp_path: Path) -> None:
    sha = "4f1c2d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"
    bp = make_buildpack(
        tmp_path / "bps", "Probe",
        'echo "       args=$#"\n'
        'echo "       build=$1"\necho "       cache=$2"\necho "       env=$3"\n'
        'for f in "$3"/*; do echo "       file $(basename "$f")=$(cat "$f")"; done\n'
        'echo "       STACK=$STACK SOURCE_VERSION=$SOURCE_VERSION SECRET=${SECRET-unset}"\n'
        'test "$PWD" = "$1" && echo "       cwd is BUILD_DIR"\n',
        # bin/release runs in the same environment: its YAML can use SOURCE_VERSION
        release="---\ndefault_process_types:\n  web: echo built $SOURCE_VERSION\n",
    )
    source = bare_app(tmp_path)
    result, lines = build(source, tmp_path, [bp], host, config={"SECRET": "s3cret two", "DEBUG": "1"},
                          source_version=sha)
    detail = {line.strip().split("=", 1)[0]: line.strip().split("=", 1)[1] for line in lines
              if re.match(r"       (build|cache|env|args)=", line)}
    assert detail["args"] == "3"
    assert detail["build"] == str(source.resolve())
    assert detail["cache"] == str((tmp_path / "cache").resolve())
    assert Path(detail["env"]).name == "env", "ENV_DIR: a directory of its own"
    assert "       file DEBUG=1" in lines and "       file SECRET=s3cret two" in lines, "config vars as files"
    assert f"       STACK=heroku-24 SOURCE_VERSION={sha} SECRET=unset" in lines, "config vars not in the env"
    assert "       cwd is BUILD_DIR" in lines
    assert result.process_types == {"web": f"echo built {sha}"}  # type: ignore[attr-defined]


def test_source_version_is_unset_when_nothing_names_a_version(tmp_path: Path) -> None:
    bp = make_buildpack(tmp_path / "bps", "Probe", 'echo "       SOURCE_VERSION=${SOURCE_VERSION-unset}"\n')
    _, lines = build(bare_app(tmp_path, "web: ./run\n"), tmp_path, [bp], LOCAL)
    assert "       SOURCE_VERSION=unset" in lines


# --- bin/detect ---------------------------------------------------------------------------------------------


def test_every_buildpack_is_announced_with_the_name_its_detect_printed(host: BuildHost, tmp_path: Path) -> None:
    bps = [make_buildpack(tmp_path / "bps", name, f'echo "       compiling {name}"\n')
           for name in ("Alpha Framework", "Beta", "Gamma")]
    _, lines = build(bare_app(tmp_path, "web: ./run\n"), tmp_path, bps, host)
    announced = [line for line in lines if line.endswith(" app detected")]
    assert announced == ["-----> Alpha Framework app detected", "-----> Beta app detected",
                         "-----> Gamma app detected"]
    # each announcement comes right before its own compile's output
    for name in ("Alpha Framework", "Beta", "Gamma"):
        assert lines[lines.index(f"-----> {name} app detected") + 1] == f"       compiling {name}"


# --- bin/compile's output, live -----------------------------------------------------------------------------


def test_compile_output_reaches_the_user_before_compile_ends(host: BuildHost, tmp_path: Path) -> None:
    """bin/compile waits until the user has seen its first line (the test answers it by creating a file): a
    build that showed output only once compile ended would never see the answer."""
    source = bare_app(tmp_path, "web: ./run\n")
    answer = source / "seen-by-the-user"
    bp = make_buildpack(
        tmp_path / "bps", "Patient",
        'echo "-----> Waiting for the user"\n'
        'for _ in $(seq 100); do [ -e "$1/seen-by-the-user" ] && break; sleep 0.1; done\n'
        '[ -e "$1/seen-by-the-user" ] && echo "       the user saw it while compile ran" || echo "       nobody saw"\n',
    )
    lines: list[str] = []

    def emit(line: str) -> None:
        lines.append(line)
        if line == "-----> Waiting for the user":
            answer.write_text("yes\n")

    compile_slug(source, slug_path=tmp_path / "slug.tgz", cache_dir=tmp_path / "cache", config={}, emit=emit,
                 buildpacks=[bp], host=host)
    assert "       the user saw it while compile ran" in lines


# --- bin/release YAML -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "types"), [
    # flow style, as many buildpacks print it
    ("---\ndefault_process_types: {web: python app.py, worker: 'rake jobs:work'}\n",
     {"web": "python app.py", "worker": "rake jobs:work"}),
    # quoted values: colons, a `#`, quotes inside
    (('default_process_types:\n  web: "gunicorn app:app --bind 0.0.0.0:$PORT # not a comment"\n'
     "  clock: 'echo ''tick'''\n"),
     {"web": "gunicorn app:app --bind 0.0.0.0:$PORT # not a comment", "clock": "echo 'tick'"}),
    # a multi-line command (a `|` block scalar) stays a script of several lines
    ("default_process_types:\n  web: |\n    export MODE=web\n    exec python app.py\naddons: []\n",
     {"web": "export MODE=web\nexec python app.py"}),
    ("---\naddons: []\ndefault_process_types:\n", {}),
    ("", {}),
    ("---\n", {}),
])
def test_release_yaml_in_every_style(text: str, types: dict[str, str]) -> None:
    assert parse_release(text).default_process_types == types


def test_release_addons_and_config_vars() -> None:
    info = parse_release("addons: [heroku-postgresql, 'heroku-redis:mini']\n"
                         "config_vars: {LANG: en_US.UTF-8, WORKERS: 2}\n")
    assert info.addons == ["heroku-postgresql", "heroku-redis:mini"]
    assert info.config_vars == {"LANG": "en_US.UTF-8", "WORKERS": "2"}
    block = parse_release("addons:\n  - heroku-postgresql\nconfig_vars:\n  PATH: bin:/usr/bin\n")
    assert block.addons == ["heroku-postgresql"] and block.config_vars == {"PATH": "bin:/usr/bin"}


@pytest.mark.parametrize(("text", "message"), [
    ("default_process_types:\n  web: [unclosed\n", r"line \d+, column \d+"),
    ("default_process_types:\n\tweb: x\n", r"line 2, column 1"),
    ("- web\n- worker\n", "expected a mapping with default_process_types, got a list"),
    ("default_process_types: web python app.py\n", "default_process_types must be a mapping"),
    ("default_process_types:\n  web:\n", "web must be a command"),
    ("default_process_types:\n  we.b: x\n", "'we.b' is not a process type name"),
    ("addons: {pg: 1}\n", "addons must be a list"),
    ("config_vars: [A]\n", "config_vars must be a mapping"),
])
def test_release_yaml_that_is_not_the_api_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_release(text)


def test_release_defaults_fill_in_what_the_procfile_lacks(host: BuildHost, tmp_path: Path) -> None:
    bp = make_buildpack(
        tmp_path / "bps", "Flow", "true\n",
        release="---\naddons: [heroku-postgresql, heroku-redis]\n"
                "config_vars: {LANG: en_US.UTF-8, RACK_ENV: production}\n"
                "default_process_types: {web: 'bin/server --port \\$PORT', worker: \"bin/worker --queue=a:b\"}\n",
    )
    result, lines = build(bare_app(tmp_path, "web: ./my-own-web\n"), tmp_path, [bp], host)
    assert result.process_types == {"web": "./my-own-web", "worker": "bin/worker --queue=a:b"}  # type: ignore
    assert "       Procfile declares types     -> web" in lines
    assert "       Default types for buildpack -> worker" in lines
    assert (" !     Add-ons not provisioned: herokusim does not create the add-ons a buildpack asks for. The Flow "
            "buildpack's bin/release asks for: heroku-postgresql, heroku-redis; create them with `herokusim "
            "addons:create heroku-postgresql`") in lines
    assert (" !     Ignored config_vars from the Flow buildpack's bin/release (not part of Heroku's Buildpack "
            "API): LANG, RACK_ENV") in lines
    # said at the build's release step, before the process types are discovered
    assert max(i for i, line in enumerate(lines) if line.startswith(" !     ")) \
        < lines.index("-----> Discovering process types")


def test_invalid_release_yaml_fails_the_build_naming_the_buildpack(host: BuildHost, tmp_path: Path) -> None:
    bp = make_buildpack(tmp_path / "bps", "Sloppy", "true\n", release="default_process_types:\n  web: [oops\n")
    message, lines = failing_build(bare_app(tmp_path), tmp_path, [bp], host)
    assert message.startswith("The Sloppy buildpack's bin/release printed invalid YAML: ")
    assert re.search(r"\(line \d+, column \d+\)$", message)
    assert "-----> Discovering process types" not in lines


# --- scripts that are not executable, that fail, that hang ------------------------------------------------


def test_a_compile_that_is_not_executable_fails_as_heroku_says(host: BuildHost, tmp_path: Path) -> None:
    bp = make_buildpack(tmp_path / "bps", "Modeless", "echo should not run\n")
    (bp / "bin" / "compile").chmod(0o644)
    message, lines = failing_build(bare_app(tmp_path), tmp_path, [bp], host)
    assert message == "Failed to compile Modeless app"
    assert lines[-3:] == [
        "-----> Modeless app detected",
        " !     bin/compile: Permission denied (the buildpack's bin/compile is not executable)",
        "       Make it executable in the buildpack's repository: git update-index --chmod=+x bin/compile",
    ]


def test_a_release_that_is_not_executable_fails_clearly(host: BuildHost, tmp_path: Path) -> None:
    bp = make_buildpack(tmp_path / "bps", "Modeless", "true\n", release="default_process_types: {}\n")
    (bp / "bin" / "release").chmod(0o600)
    message, lines = failing_build(bare_app(tmp_path), tmp_path, [bp], host)
    assert message == "The Modeless buildpack's bin/release cannot run"
    assert " !     bin/release: Permission denied (the buildpack's bin/release is not executable)" in lines


def test_a_detect_that_is_not_executable_fails_clearly(host: BuildHost, tmp_path: Path) -> None:
    bp = make_buildpack(tmp_path / "bps", "Modeless")
    (bp / "bin" / "detect").chmod(0o644)
    message, _ = failing_build(bare_app(tmp_path), tmp_path, [bp], host)
    assert message.startswith(f"{bp / 'bin' / 'detect'}: Permission denied (a buildpack's scripts must be "
                              "executable")


def test_non_zero_exits_are_reported_per_script(host: BuildHost, tmp_path: Path) -> None:
    declines = make_buildpack(tmp_path / "bps", "Declines", detect="#!/usr/bin/env bash\nexit 1\n")
    message, lines = failing_build(bare_app(tmp_path, name="a"), tmp_path, [declines], host)
    assert message == "App not compatible with buildpack"

    broken = make_buildpack(tmp_path / "bps", "Broken", 'echo "-----> Trying"\necho "       oops" >&2\nexit 3\n')
    message, lines = failing_build(bare_app(tmp_path, name="b"), tmp_path, [broken], host)
    assert message == "Failed to compile Broken app"
    # its output, stderr too (docker exec carries the two apart: their order may differ in a container)
    assert sorted(lines[-2:]) == ["       oops", "-----> Trying"]

    unreleased = make_buildpack(tmp_path / "bps", "Unreleased", "true\n", release="default_process_types: {}\n")
    (unreleased / "bin" / "release").write_text("#!/usr/bin/env bash\nexit 4\n")
    message, _ = failing_build(bare_app(tmp_path, name="c"), tmp_path, [unreleased], host)
    assert message == "The Unreleased buildpack's bin/release failed (exit status 4)"


def test_a_hung_compile_is_stopped_by_the_build_timeout(host: BuildHost, tmp_path: Path) -> None:
    bp = make_buildpack(tmp_path / "bps", "Hung", "echo starting\nsleep 300 &\nsleep 300\n")
    started = time.monotonic()
    message, lines = failing_build(bare_app(tmp_path), tmp_path, [bp], host, timeout=3)
    assert message == "Timed out compiling Hung app (3 seconds)", "Heroku's words, with the limit"
    assert "starting" in lines
    assert time.monotonic() - started < 60, "the build did not wait for the buildpack's sleeps"


# --- through a daemon: .profile.d, the cache, the build timeout --------------------------------------------


@pytest.mark.both_runtimes
def test_a_profile_d_export_written_by_the_buildpack_reaches_the_web_process(tmp_path: Path) -> None:
    """The built-in Python buildpack writes .profile.d/python.sh (PYTHONPATH to the slug's packages); the dyno
    sources it before the Procfile's command, on both runtimes."""
    daemon = start_daemon(tmp_path / "home")
    try:
        repo = checkout_of("python-hello", tmp_path / "app")
        assert daemon.cli("apps:create", "profiled", cwd=repo).returncode == 0
        push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
        assert push.returncode == 0, push.stderr
        value = wait_for(lambda: (r := daemon.get("profiled.localhost", "/config/PYTHONPATH")).status_code == 200
                         and r.text.strip(), timeout=90, message="the web dyno to answer")
        first = value.split(":")[0]
        assert first.endswith("/.heroku/python"), value
        if daemon.runtime == "docker":
            assert first == "/app/.heroku/python", "HOME is /app in a container"
        # a default the script only sets when the config var is not: PYTHONUNBUFFERED=${PYTHONUNBUFFERED:-1}
        assert daemon.get("profiled.localhost", "/config/PYTHONUNBUFFERED").text.strip() == "1"
    finally:
        stop_daemon(daemon)


class HangingIndex:
    """A package index that accepts connections and never answers: a build that reaches it hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.reached = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            self.reached.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def push(daemon: Daemon, repo: Path, message: str) -> str:
    git("commit", "-q", "--allow-empty", "-am", message, cwd=repo)
    result = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert result.returncode == 0, result.stderr
    return result.stderr


def releases(daemon: Daemon, app: str) -> int:
    return len(daemon.api("GET", f"/apps/{app}/releases").json())


def test_the_cache_survives_pushes_until_purged_and_a_hung_build_times_out(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "home", HEROKUSIM_BUILD_TIMEOUT="10")
    index = HangingIndex()
    try:
        repo = checkout_of("python-hello", tmp_path / "app")
        assert daemon.cli("apps:create", "cachey", cwd=repo).returncode == 0
        app_id = daemon.api("GET", "/apps/cachey").json()["id"]
        cache = daemon.home / "cache" / app_id
        push(daemon, repo, "first")
        assert (cache / "pip").is_dir(), "the Python buildpack keeps pip's cache in CACHE_DIR"
        (cache / "from-an-earlier-build").write_text("kept\n")
        push(daemon, repo, "second")
        assert (cache / "from-an-earlier-build").read_text() == "kept\n", "the cache is kept across builds"

        # builds:cache:purge: Heroku's confirmation, then the cache goes
        wrong = daemon.cli("builds:cache:purge", "-a", "cachey", "--confirm", "other")
        assert wrong.returncode != 0 and "Confirmation other did not match cachey. Aborted." in wrong.stderr
        unasked = daemon.cli("builds:cache:purge", "-a", "cachey")
        assert unasked.returncode != 0
        assert "To proceed, type cachey or re-run this command with --confirm cachey" in unasked.stderr
        assert (cache / "from-an-earlier-build").exists(), "nothing purged without the confirmation"
        purged = daemon.cli("builds:cache:purge", "-a", "cachey", "--confirm", "cachey")
        assert purged.returncode == 0, purged.stderr
        assert "Purging build cache for cachey... done" in purged.stdout
        assert not cache.exists(), "no build runs: the cache goes at once"

        # the API: 202 and no body, as Heroku's; an unknown app is a 404 in Heroku's error shape
        answer = daemon.api("DELETE", "/apps/cachey/build-cache")
        assert answer.status_code == 202 and answer.content == b""
        unknown = daemon.api("DELETE", "/apps/no-such-app/build-cache")
        assert unknown.status_code == 404 and unknown.json()["id"] == "not_found"

        # a build that hangs (pip waits on an index that never answers) ends at HEROKUSIM_BUILD_TIMEOUT;
        # a purge during it answers at once and the next build starts with an empty cache
        before = releases(daemon, "cachey")
        push(daemon, repo, "refill the cache")
        (cache / "from-an-earlier-build").write_text("stale\n")
        (repo / "requirements.txt").write_text(f"--index-url http://127.0.0.1:{index.port}/simple\nsomething\n")
        git("commit", "-q", "-am", "hang", cwd=repo)
        outcome: dict[str, object] = {}
        pushing = threading.Thread(target=lambda: outcome.update(
            result=git("push", "herokusim", "main", cwd=repo, env=daemon.env)))
        pushing.start()
        assert index.reached.wait(60), "the build reached the hanging index"
        started = time.monotonic()
        assert daemon.api("DELETE", "/apps/cachey/build-cache").status_code == 202
        assert time.monotonic() - started < 5, "the purge does not wait for the running build"
        assert (cache / "from-an-earlier-build").exists(), "the running build keeps the cache it uses"
        pushing.join(120)
        hung = outcome["result"]
        assert hung.returncode != 0  # type: ignore[attr-defined]
        assert "remote:  !     Timed out compiling Python app (10 seconds)" in hung.stderr  # type: ignore
        assert "pre-receive hook declined" in hung.stderr  # type: ignore[attr-defined]
        assert releases(daemon, "cachey") == before + 1, "the timed-out build released nothing"
        builds = daemon.api("GET", "/apps/cachey/builds").json()
        assert builds[-1]["status"] == "failed"

        (repo / "requirements.txt").write_text("# No packages\n")
        push(daemon, repo, "unhang")
        assert not (cache / "from-an-earlier-build").exists(), "the build after the purge started empty"
        assert (cache / "pip").is_dir()
    finally:
        index.close()
        stop_daemon(daemon)
