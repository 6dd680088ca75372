"""Where add-on servers listen, and that dynos of every app reach them there and nothing else does:
loopback on the process runtime; loopback plus the add-ons network's gateway on Docker, which dynos call
`host.docker.internal`."""

from __future__ import annotations

import asyncio
import fcntl
import io
import socket
import struct
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, remove_docker_leftovers

from herokusim.addons.network import addon_network
from herokusim.addons.provider import AddonNetwork
from herokusim.config import Settings
from herokusim.dynos.runtime import DynoSpec
from herokusim.dynos.runtime.docker import LABEL_HOME, LABEL_ROLE, DockerRuntime, is_local_address
from herokusim.dynos.runtime.process import ProcessRuntime
from herokusim.stack import StackImage

SIOCGIFADDR = 0x8915

CLIENT = """\
import socket, sys
host, port, word = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    with socket.create_connection((host, port), timeout=5) as conn:
        conn.sendall(word.encode() + b"\\n")
        print("echo:", conn.makefile().readline().strip(), flush=True)
except OSError as exc:
    print("unreachable:", host, exc, flush=True)
"""


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


def slug(tmp_path: Path) -> Path:
    path = tmp_path / "slug.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in {"Procfile": "web: true\n", "client.py": CLIENT}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def one_off(tmp_path: Path, app: str, command: str) -> DynoSpec:
    port = free_port()
    return DynoSpec(f"{app}-run-{time.monotonic_ns()}", app, app, "run.1", command,
                    {"PORT": str(port), "DYNO": "run.1"}, slug(tmp_path), port, release_version=1)


def host_addresses() -> set[str]:
    """Every IPv4 address of this machine's interfaces."""
    found = set()
    for _, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                packed = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:  # no IPv4 address on it
                continue
            found.add(socket.inet_ntoa(packed[20:24]))
    return found


def listening_addresses(port: int) -> set[str]:
    """The addresses of every IPv4 socket on this machine listening on `port`, from /proc/net/tcp."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, hex_port = fields[1].split(":")
        if fields[3] == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(struct.pack("<I", int(address, 16))))
    return found


async def echo_server(network: AddonNetwork) -> tuple[list[asyncio.Server], int]:
    """A plain TCP echo server on each of the network's listen addresses, all on one port."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    port = free_port()
    servers = [await asyncio.start_server(echo, host, port) for host in network.listen]
    return servers, port


async def run_dyno(runtime: DockerRuntime, spec: DynoSpec) -> str:
    dyno = await runtime.start(spec)
    out = b""
    try:
        async for chunk in dyno.output():
            out += chunk
        await asyncio.wait_for(dyno.wait(), 60)
    finally:
        await dyno.cleanup()
    return out.decode(errors="replace")


def test_on_the_process_runtime_servers_listen_on_loopback_alone(tmp_path: Path) -> None:
    network = addon_network(Settings(home=tmp_path), ProcessRuntime(tmp_path / "dynos"))
    assert network == AddonNetwork(listen=("127.0.0.1",), advertise="127.0.0.1")


def test_only_addresses_of_this_machine_are_local() -> None:
    assert is_local_address("127.0.0.1")
    assert not is_local_address("203.0.113.7"), "an address no interface has: an engine's VM, say"


def test_dynos_of_every_app_reach_addon_servers_and_nothing_else_does(home: Path, docker_stack: str,
                                                                     tmp_path: Path) -> None:
    runtime = make_runtime(home, docker_stack)
    network = addon_network(Settings(home=home, runtime="docker"), runtime)
    assert network.advertise == "host.docker.internal"
    assert network.listen[0] == "127.0.0.1" and len(network.listen) == 2, network
    gateway = network.listen[1]
    assert "0.0.0.0" not in network.listen

    addons = runtime.client.networks.get(runtime.addons_network_name)
    assert addons.attrs["Labels"][LABEL_HOME] == str(home) and addons.attrs["Labels"][LABEL_ROLE] == "addons"
    assert addons.attrs["IPAM"]["Config"][0]["Gateway"] == gateway
    assert addons.attrs["Internal"] is True, "a container put on it by hand gets no way out"

    async def main() -> None:
        servers, port = await echo_server(network)
        try:
            bound = {sock.getsockname()[0] for server in servers for sock in server.sockets}
            assert bound == {"127.0.0.1", gateway}
            assert listening_addresses(port) == {"127.0.0.1", gateway}, "no socket on any other address"
            others = host_addresses() - {"127.0.0.1", gateway}
            assert others, "this machine has other addresses to try"
            for address in sorted(others):
                with pytest.raises(OSError), socket.create_connection((address, port), timeout=2):
                    pass

            # one-off dynos of two apps, each on its own app network, reach the server by name
            command = f"python3 client.py host.docker.internal {port} {{word}}; getent hosts host.docker.internal"
            one, two = await asyncio.gather(
                run_dyno(runtime, one_off(tmp_path, "app-one", command.format(word="from-app-one"))),
                run_dyno(runtime, one_off(tmp_path, "app-two", command.format(word="from-app-two"))))
            assert "echo: from-app-one" in one, one
            assert "echo: from-app-two" in two, two
            assert gateway in one and "host.docker.internal" in one, "the name is the add-ons gateway"

            # from a dyno, the same port on the host's other addresses answers nothing
            probes = "; ".join(f"python3 client.py {address} {port} probe" for address in sorted(others))
            seen = await run_dyno(runtime, one_off(tmp_path, "app-one", probes))
            assert "echo:" not in seen and seen.count("unreachable:") == len(others), seen
        finally:
            for server in servers:
                server.close()
                await server.wait_closed()

    asyncio.run(main())


def test_the_addons_network_outlives_the_daemon_with_the_same_gateway(home: Path, docker_stack: str) -> None:
    first = make_runtime(home, docker_stack)
    gateway = first.addons_gateway()
    assert gateway is not None

    async def main() -> None:
        await first.reap_strays()  # what a starting daemon does

    asyncio.run(main())
    first._remove_networks_at_exit()  # what a stopping daemon does
    again = make_runtime(home, docker_stack)
    assert again.addons_gateway() == gateway, "servers left listening on it are still reachable"
    assert runtime_networks(again) == [again.addons_network_name]


def runtime_networks(runtime: DockerRuntime) -> list[str]:
    return [n.name for n in runtime.client.networks.list(filters={"label": f"{LABEL_HOME}={runtime.home}"})]
