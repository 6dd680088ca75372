"""The Docker backend on its own: the container a dyno gets, signals and exit codes, memory, a terminal,
networks per app, and reaping scoped to one HEROKUSIM_HOME."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, remove_docker_leftovers

from herokusim import stack
from herokusim.dynos.runtime import DynoSpec
from herokusim.dynos.runtime.docker import (
    LABEL_APP,
    LABEL_DYNO,
    LABEL_HOME,
    LABEL_RELEASE,
    DockerDyno,
    DockerRuntime,
)
from herokusim.stack import StackImage


@pytest.fixture
def home(tmp_path: Path, docker_stack: str) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    try:
        yield home
    finally:
        remove_docker_leftovers(home)


def make_runtime(home: Path, image: str) -> DockerRuntime:
    import docker

    client = docker.from_env(max_pool_size=32)
    return DockerRuntime(client, StackImage.built(client, image), home)


def slug(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    path = tmp_path / "slug.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in (files or {"Procfile": "web: true\n"}).items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def spec(tmp_path: Path, command: str, *, app: str = "app-1", name: str = "web.1", memory: int = 0,
         interactive: bool = False, stdin: bool = False) -> DynoSpec:
    port = free_port()
    dyno_id = f"{app}-{name}-{time.monotonic_ns()}"
    return DynoSpec(dyno_id, app, app, name, command, {"PORT": str(port), "DYNO": name, "GREETING": "hi"},
                    slug(tmp_path), port, release_version=7, memory_limit_mb=memory, interactive=interactive,
                    stdin=stdin)


async def collect(dyno: DockerDyno) -> bytes:
    out = b""
    async for chunk in dyno.output():
        out += chunk
    return out


def test_a_dyno_is_a_labelled_container_with_its_port_on_loopback(home: Path, docker_stack: str,
                                                                   tmp_path: Path) -> None:
    runtime = make_runtime(home, docker_stack)

    async def main() -> None:
        s = spec(tmp_path, 'echo "home=$HOME dyno=$DYNO greeting=$GREETING"; ls /app; echo oops >&2; sleep 60',
                 memory=256)
        dyno = await runtime.start(s)
        seen = bytearray()

        async def gather() -> None:
            async for chunk in dyno.output():
                seen.extend(chunk)

        output = asyncio.create_task(gather())
        container = runtime.client.containers.get(dyno.handle)
        labels = container.labels
        assert labels[LABEL_HOME] == str(home) and labels[LABEL_APP] == "app-1"
        assert labels[LABEL_DYNO] == "web.1" and labels[LABEL_RELEASE] == "7"
        host = container.attrs["HostConfig"]
        assert host["PortBindings"] == {f"{s.port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(s.port)}]}
        assert host["Init"] is True
        assert host["Memory"] == 256 * 2**20 and host["MemorySwap"] == 256 * 2**20
        assert list(container.attrs["NetworkSettings"]["Networks"]) == [runtime.network_name("app-1")]
        hosts = container.exec_run(["cat", "/etc/hosts"]).output.decode()
        assert f"{runtime.addons_gateway()}\thost.docker.internal" in hosts, \
            "add-on services on the host are reachable by name, at the add-ons network's gateway"
        assert await dyno.memory_mb() is not None
        deadline = time.monotonic() + 30
        while not all(word in seen for word in (b"greeting=hi", b"Procfile", b"oops")):  # then it sleeps
            assert time.monotonic() < deadline, bytes(seen)
            await asyncio.sleep(0.1)
        dyno.terminate()
        assert await asyncio.wait_for(dyno.wait(), 30) == 143
        assert not dyno.oom_killed()
        await asyncio.wait_for(output, 10)
        text = bytes(seen).decode()
        assert "home=/app dyno=web.1 greeting=hi" in text and "Procfile" in text and "oops" in text
        runtime.network_linger = 0.5
        await dyno.cleanup()
        assert not runtime.client.containers.list(all=True, filters={"id": dyno.handle})
        assert runtime.client.networks.list(names=[runtime.network_name("app-1")]), \
            "the network outlives the app's last dyno a little, for a restart"
        deadline = time.monotonic() + 30
        while runtime.client.networks.list(names=[runtime.network_name("app-1")]):
            assert time.monotonic() < deadline, "then it goes: an app's network lasts as long as its dynos"
            await asyncio.sleep(0.2)

    asyncio.run(main())


def test_a_dyno_runs_unprivileged_owns_its_slug_and_trusts_the_machines_cas(home: Path, docker_stack: str,
                                                                           tmp_path: Path) -> None:
    """As on Heroku: not root, HOME=/app, and the app can change its own files (ephemerally); HTTPS from the
    dyno trusts what the machine trusts."""
    runtime = make_runtime(home, docker_stack)
    bundle = stack.machine_ca_bundle()
    assert bundle is not None, "this machine trusts a CA bundle"

    async def main() -> None:
        s = spec(tmp_path, 'echo "uid=$(id -u) user=$(id -un) home=$HOME"; '
                           'echo "worker: true" >> /app/Procfile && echo appended; '
                           'mkdir -p /app/uploads && echo hi > /app/uploads/a && echo wrote; '
                           'sha256sum /etc/ssl/certs/ca-certificates.crt')
        dyno = await runtime.start(s)
        text = (await asyncio.wait_for(collect(dyno), 30)).decode()
        assert await asyncio.wait_for(dyno.wait(), 30) == 0, text
        await dyno.cleanup()
        uid = int(re.search(r"uid=(\d+)", text).group(1))  # type: ignore[union-attr]
        assert uid != 0 and "user=dyno home=/app" in text
        assert "appended" in text and "wrote" in text, text
        assert hashlib.sha256(bundle.read_bytes()).hexdigest() in text

    asyncio.run(main())


def test_over_the_hard_limit_the_kernel_kills_with_137(home: Path, docker_stack: str, tmp_path: Path) -> None:
    runtime = make_runtime(home, docker_stack)

    async def main() -> None:
        grow = ("python3 -c 'import time\nchunks = []\nwhile True:\n    chunks.append(b\"x\" * 2**20)\n"
                "    time.sleep(0.001) if len(chunks) % 16 else print(len(chunks), flush=True)'")
        dyno = await runtime.start(spec(tmp_path, grow, memory=96))
        try:
            assert await asyncio.wait_for(dyno.wait(), 60) == 137
            assert dyno.oom_killed(), "dynos/ reports it as R15"
        finally:
            await dyno.cleanup()

    asyncio.run(main())


def test_memory_is_measured_without_page_cache(home: Path, docker_stack: str, tmp_path: Path) -> None:
    runtime = make_runtime(home, docker_stack)

    async def main() -> None:
        hold = "python3 -c 'import time\nx = b\"x\" * (120 * 2**20)\nprint(\"held\", flush=True)\ntime.sleep(60)'"
        dyno = await runtime.start(spec(tmp_path, hold, memory=512))
        try:
            deadline = time.monotonic() + 30
            measured = 0.0
            while time.monotonic() < deadline and measured < 120:
                measured = await dyno.memory_mb() or 0.0
                await asyncio.sleep(0.3)
            assert 120 <= measured < 200, measured
        finally:
            dyno.kill()
            await dyno.wait()
            await dyno.cleanup()

    asyncio.run(main())


def test_an_interactive_one_off_has_a_terminal_and_its_exit_status(home: Path, docker_stack: str,
                                                                    tmp_path: Path) -> None:
    runtime = make_runtime(home, docker_stack)

    async def main() -> None:
        s = spec(tmp_path, 'test -t 0 && echo tty; read line; echo "got $line"; exit 3', name="run.1234",
                 interactive=True)
        dyno = await runtime.start(s)
        output = asyncio.create_task(collect(dyno))
        dyno.write_input(b"hello\n")
        assert await asyncio.wait_for(dyno.wait(), 30) == 3
        text = (await asyncio.wait_for(output, 10)).decode()
        assert "tty" in text and "got hello" in text
        await dyno.cleanup()

    asyncio.run(main())


def test_a_one_off_with_piped_input_gets_it_and_its_end(home: Path, docker_stack: str, tmp_path: Path) -> None:
    runtime = make_runtime(home, docker_stack)

    async def main() -> None:
        s = spec(tmp_path, 'test -t 0 || echo no-tty; tr a-z A-Z; echo done >&2; exit 4', name="run.99",
                 stdin=True)
        dyno = await runtime.start(s)
        output = asyncio.create_task(collect(dyno))
        dyno.write_input(b"hello\nworld\n")
        dyno.close_input()
        assert await asyncio.wait_for(dyno.wait(), 30) == 4
        text = (await asyncio.wait_for(output, 10)).decode()
        assert "no-tty" in text and "HELLO\nWORLD" in text and "done" in text
        await dyno.cleanup()

    asyncio.run(main())


def test_listening_means_bound_inside_the_container(home: Path, docker_stack: str, tmp_path: Path) -> None:
    runtime = make_runtime(home, docker_stack)

    async def main() -> None:
        dyno = await runtime.start(spec(tmp_path, "sleep 2; exec python3 -m http.server $PORT"))
        try:
            assert not await dyno.listening(), "Docker's proxy accepts on the port before the app binds"
            deadline = time.monotonic() + 30
            while not await dyno.listening():
                assert time.monotonic() < deadline, "the app never bound $PORT"
                await asyncio.sleep(0.2)
        finally:
            dyno.kill()
            await dyno.wait()
            await dyno.cleanup()

    asyncio.run(main())


def test_dynos_of_one_app_cannot_find_another_apps(home: Path, docker_stack: str, tmp_path: Path) -> None:
    runtime = make_runtime(home, docker_stack)

    async def main() -> None:
        one = await runtime.start(spec(tmp_path, "sleep 60", app="app-one"))
        one_b = await runtime.start(spec(tmp_path, "sleep 60", app="app-one", name="web.2"))
        two = await runtime.start(spec(tmp_path, "sleep 60", app="app-two"))
        try:
            names = {d.handle: runtime.client.containers.get(d.handle).name for d in (one, one_b, two)}
            a = runtime.client.containers.get(one.handle)
            # name lookups go to the engine's resolver inside the container; no packet leaves it
            assert a.exec_run(["getent", "hosts", names[one_b.handle]]).exit_code == 0
            assert a.exec_run(["getent", "hosts", names[two.handle]]).exit_code != 0
            networks = {d.handle: list(runtime.client.containers.get(d.handle).attrs["NetworkSettings"]
                                       ["Networks"]) for d in (one, one_b, two)}
            assert networks[one.handle] == networks[one_b.handle] != networks[two.handle]
        finally:
            for dyno in (one, one_b, two):
                dyno.kill()
                await dyno.wait()
                await dyno.cleanup()

    asyncio.run(main())


def test_reaping_is_scoped_to_one_home(home: Path, docker_stack: str, tmp_path: Path) -> None:
    other_home = tmp_path / "other-home"
    mine, theirs = make_runtime(home, docker_stack), make_runtime(other_home, docker_stack)

    async def main() -> None:
        kept = await theirs.start(spec(tmp_path, "sleep 60"))
        try:
            lost = await mine.start(spec(tmp_path, "sleep 60"))
            assert await mine.reap_strays() == [lost.spec.dyno_id]
            assert await asyncio.wait_for(lost.wait(), 30) == 137
            assert theirs.client.containers.get(kept.handle).status == "running"
            assert await theirs.reap_orphan(kept.spec.dyno_id, kept.handle) is True
            assert await theirs.reap_orphan(kept.spec.dyno_id, kept.handle) is False
        finally:
            remove_docker_leftovers(other_home)

    asyncio.run(main())


def test_up_with_runtime_docker_and_no_engine_says_how_to_go_on(tmp_path: Path) -> None:
    env = {"HEROKUSIM_HOME": str(tmp_path / "home"), "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
           "HEROKUSIM_ROUTER_PORT": "0", "HEROKUSIM_API_PORT": "0", "HEROKUSIM_GIT_PORT": "0",
           "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "herokusim", "up", "--runtime", "docker"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "no Docker engine answers" in result.stderr and "--runtime process" in result.stderr
