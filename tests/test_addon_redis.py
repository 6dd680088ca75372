"""heroku-redis at the provider level (no daemon): one real redis-server per add-on, reached through its
REDIS_URL with the `redis` client an app would use."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis

from herokusim.addons.provider import AddonError
from herokusim.addons.redis import SERVICE, RedisProvider


class Harness:
    """A provider in a tmp HEROKUSIM_HOME on its own event loop, the events it reported kept in order."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.events: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.provider = self.new_provider()

    def new_provider(self) -> RedisProvider:
        return RedisProvider(SimpleNamespace(home=self.home), events=self.events.append,
                             supervise_interval=0.1)

    def daemon_died(self) -> RedisProvider:
        """The daemon was killed: its supervisor is gone, its servers keep running; the next daemon's
        provider takes over."""
        if self.provider._supervisor is not None:
            self.provider._supervisor.cancel()
        self.provider = self.new_provider()
        return self.provider

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def sleep_until(self, predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
        async def wait() -> None:
            for _ in range(int(timeout / 0.05)):
                if predicate():
                    return
                await asyncio.sleep(0.05)
            raise AssertionError(f"timed out; events: {self.events}")
        self.run(wait())

    def provision(self, app: str = "app", plan: str | None = None, **options: str):  # type: ignore[no-untyped-def]
        return self.run(self.provider.provision(f"addon-{app}", app, SERVICE.plan(plan), options))


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "home")
    try:
        yield harness
    finally:
        harness.run(harness.provider.stop())
        harness.loop.close()


def client(url: str):  # type: ignore[no-untyped-def]
    return redis.Redis.from_url(url, socket_timeout=5)


def answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def listen_addresses(port: int) -> set[str]:
    """The local addresses of LISTEN sockets on this port, from /proc/net/tcp{,6}."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path(f"/proc/net/{name}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            addr, _, hexport = local.partition(":")
            if state == "0A" and int(hexport, 16) == port:
                if name == "tcp":
                    found.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
                else:
                    found.add(addr)
    return found


def test_two_addons_each_with_its_own_server_password_and_data(h: Harness) -> None:
    a, b = h.provision("alpha"), h.provision("beta")
    url_a, url_b = a.config["URL"], b.config["URL"]
    assert url_a.startswith("redis://:") and url_a.rsplit("@", 1)[1].startswith("127.0.0.1:")
    assert url_a != url_b
    ra, rb = client(url_a), client(url_b)
    ra.set("greeting", "hello from a")
    rb.set("greeting", "hello from b")
    assert ra.get("greeting") == b"hello from a"
    assert rb.get("greeting") == b"hello from b"
    # A's credentials open nothing of B's: its password on B's port is refused
    port_b = int(url_b.rsplit(":", 1)[1])
    password_a = url_a.split(":", 2)[2].split("@")[0]
    with pytest.raises(redis.exceptions.AuthenticationError):
        client(f"redis://:{password_a}@127.0.0.1:{port_b}").get("greeting")
    # a wrong password, or none, is refused
    with pytest.raises(redis.exceptions.AuthenticationError):
        client(f"redis://:wrong@127.0.0.1:{port_b}").get("greeting")
    with pytest.raises(redis.exceptions.AuthenticationError):
        client(f"redis://127.0.0.1:{port_b}").get("greeting")
    # an app cannot reconfigure its plan's limits: CONFIG is not a command it has, as on Heroku
    with pytest.raises(redis.exceptions.ResponseError, match="unknown command"):
        ra.config_set("maxmemory", "0")
    assert h.run(h.provider.health(a.provider_id)) == "available"
    info = dict(h.run(h.provider.info(a.provider_id)))
    assert [label for label, _ in h.run(h.provider.info(a.provider_id))] == [
        "Plan", "Status", "Created", "Version", "Timeout", "Maxmemory", "Maxclients"]
    assert (info["Plan"], info["Status"], info["Timeout"], info["Maxmemory"], info["Maxclients"]) == (
        "Mini", "available", "300", "noeviction", "20")
    assert info["Version"].startswith("6.2")


def test_listens_only_on_loopback(h: Harness) -> None:
    a = h.provision()
    port = int(a.config["URL"].rsplit(":", 1)[1])
    assert listen_addresses(port) == {"127.0.0.1"}


@pytest.mark.parametrize("plan", ["mini", "premium-0"])
def test_data_survives_a_stop_and_start(h: Harness, plan: str) -> None:
    a = h.provision(plan=plan)
    client(a.config["URL"]).set("kept", "yes")
    h.run(h.provider.stop())
    assert not answers(int(a.config["URL"].rsplit(":", 1)[1]))
    h.provider = h.new_provider()  # the next daemon's
    h.run(h.provider.start())
    assert h.provider.url(a.provider_id) == a.config["URL"]  # same port, same password
    assert client(a.config["URL"]).get("kept") == b"yes"


def test_a_server_a_previous_daemon_left_running_is_adopted(h: Harness) -> None:
    a = h.provision()
    client(a.config["URL"]).set("kept", "yes")
    pid = h.provider.pid(a.provider_id)
    h.daemon_died()
    h.run(h.provider.start())
    assert h.provider.pid(a.provider_id) == pid
    assert client(a.config["URL"]).get("kept") == b"yes"
    assert any("adopted" in e for e in h.events)


def test_maxmemory_noeviction_refuses_writes_and_allkeys_lru_evicts(h: Harness) -> None:
    a = h.provision()  # mini: 25 MB, noeviction
    r = client(a.config["URL"])
    chunk = "x" * (1024 * 1024)
    with pytest.raises(redis.exceptions.OutOfMemoryError, match="used memory > .maxmemory."):
        for i in range(40):
            r.set(f"k{i}", chunk)
    assert 15 <= r.dbsize() < 40  # what fitted is all still there
    assert r.get("k0") == chunk.encode()

    assert "less recently used" in h.run(h.provider.set_policy(a.provider_id, "allkeys-lru"))
    for i in range(40, 80):
        r.set(f"k{i}", chunk)  # no error: old keys make room
    assert r.get("k79") == chunk.encode()
    assert r.dbsize() < 40  # 60-odd keys written, room for 20-odd: the rest were evicted
    metrics = h.run(h.provider.metrics(a.provider_id))
    assert int(metrics["sample#evicted-keys"]) > 0
    assert metrics["sample#memory-redis"].endswith("bytes")
    assert metrics["sample#active-connections"] == "1"
    assert dict(h.run(h.provider.info(a.provider_id)))["Maxmemory"] == "allkeys-lru"


def test_bad_input_is_one_line_and_changes_nothing(h: Harness) -> None:
    a = h.provision()
    with pytest.raises(AddonError, match="Unknown maxmemory policy 'lru-ish'"):
        h.run(h.provider.set_policy(a.provider_id, "lru-ish"))
    assert dict(h.run(h.provider.info(a.provider_id)))["Maxmemory"] == "noeviction"
    before = sorted(p.name for p in (h.home / "addons" / "heroku-redis").iterdir())
    with pytest.raises(AddonError, match="--fast"):
        h.provision("other", fast="yes")
    with pytest.raises(AddonError, match="Unknown maxmemory policy"):
        h.provision("other", maxmemory_policy="nope")
    assert sorted(p.name for p in (h.home / "addons" / "heroku-redis").iterdir()) == before
    assert SERVICE.plan("heroku-redis:premium-0").limits["maxmemory_mb"] == 50
    assert SERVICE.plan(None).name == "mini"
    assert SERVICE.plan("hobby-dev") is None


def test_a_killed_server_is_restarted_and_the_event_reported(h: Harness) -> None:
    a = h.provision(plan="premium-0")
    r = client(a.config["URL"])
    r.set("durable", "1")
    pid = h.provider.pid(a.provider_id)
    time.sleep(1.2)  # the append-only file is fsynced every second
    os.kill(pid, signal.SIGKILL)
    h.sleep_until(lambda: any("restarted" in e for e in h.events))
    assert any("killed by signal 9" in e for e in h.events)
    assert h.provider.pid(a.provider_id) != pid
    assert h.run(h.provider.health(a.provider_id)) == "available"
    assert client(a.config["URL"]).get("durable") == b"1"  # premium keeps its AOF


def test_deprovision_removes_the_data_and_the_server(h: Harness) -> None:
    a, b = h.provision("alpha"), h.provision("beta")
    port = int(a.config["URL"].rsplit(":", 1)[1])
    assert (h.home / "addons" / "heroku-redis" / a.provider_id).is_dir()
    h.run(h.provider.deprovision(a.provider_id))
    assert not (h.home / "addons" / "heroku-redis" / a.provider_id).exists()
    assert not answers(port)
    assert any("restart" in e for e in h.events) is False  # a deprovisioned server is not restarted
    client(b.config["URL"]).set("still", "here")


def test_redis_cli_runs_one_command(h: Harness) -> None:
    a = h.provision()
    client(a.config["URL"]).set("name", "herokusim")
    assert h.run(h.provider.run_command(a.provider_id, ["GET", "name"])) == "herokusim"
    argv = h.provider.cli_argv(a.provider_id)
    assert argv[0].endswith("redis-cli")
    assert not any(a.config["URL"].split(":", 2)[2].split("@")[0] in part for part in argv)


def test_listens_where_the_network_says_and_a_changed_network_restarts_the_server(h: Harness) -> None:
    """A second listen address (127.0.0.2 stands in for the Docker bridge's gateway) is bound as well; a
    daemon started with another network does not adopt the old server but starts one bound as it says."""
    from herokusim.addons.provider import AddonNetwork

    two = AddonNetwork(listen=("127.0.0.1", "127.0.0.2"), advertise="host.docker.internal")
    h.provider = RedisProvider(SimpleNamespace(home=h.home), two, h.events.append, supervise_interval=0.1)
    a = h.provision()
    assert "@host.docker.internal:" in a.config["URL"]
    port = int(a.config["URL"].rsplit(":", 1)[1])
    assert listen_addresses(port) == {"127.0.0.1", "127.0.0.2"}
    password = a.config["URL"].split(":", 2)[2].split("@")[0]
    client(f"redis://:{password}@127.0.0.2:{port}").set("k", "v")
    pid = h.provider.pid(a.provider_id)
    h.daemon_died()  # the next daemon runs on the process runtime
    h.run(h.provider.start())
    assert h.provider.pid(a.provider_id) != pid
    assert listen_addresses(port) == {"127.0.0.1"}
    assert h.provider.url(a.provider_id) == f"redis://:{password}@127.0.0.1:{port}"
    assert client(h.provider.url(a.provider_id)).get("k") == b"v"  # stopped cleanly: its snapshot was kept
