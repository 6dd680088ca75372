"""Heroku Key-Value Store commands through the CLI against a daemon with a real heroku-redis add-on:
redis:cli -c, redis:cli at a prompt (the bundled redis-cli, reading stdin), redis:info, redis:maxmemory;
bad input is one line and changes nothing."""

from __future__ import annotations

from conftest import Daemon

APP = "redis-cmds"


def test_redis_commands_reach_the_addons_own_server(daemon: Daemon) -> None:
    assert daemon.cli("apps:create", APP).returncode == 0
    none = daemon.cli("redis:info", "-a", APP)
    assert none.returncode == 1 and "No Redis instances found." in none.stderr
    created = daemon.cli("addons:create", "heroku-redis:mini", "-a", APP)
    assert created.returncode == 0, created.stderr
    addon = daemon.api("GET", f"/apps/{APP}/addons/REDIS").json()["name"]

    assert daemon.cli("redis:cli", "-a", APP, "-c", "SET greeting 'hello there'").stdout.strip() == "OK"
    assert daemon.cli("redis:cli", "REDIS_URL", "-a", APP, "-c", "GET greeting").stdout.strip() == "hello there"
    # at a prompt: the bundled redis-cli, authenticated, reading commands (here from a pipe)
    prompt = daemon.cli("redis:cli", "-a", APP, input="PING\nGET greeting\n")
    assert prompt.returncode == 0, prompt.stderr
    assert prompt.stdout.splitlines() == [f"Connecting to {addon} (REDIS_URL):", "PONG", "hello there"]

    info = daemon.cli("redis:info", "-a", APP).stdout.splitlines()
    assert info[0] == f"=== {addon} (REDIS_URL)"
    fields = dict(line.split(":", 1) for line in info[1:] if ":" in line)
    assert fields["Plan"].strip() == "Mini" and fields["Status"].strip() == "available"
    assert fields["Maxmemory"].strip() == "noeviction" and fields["Maxclients"].strip() == "20"

    changed = daemon.cli("redis:maxmemory", "-a", APP, "--policy", "allkeys-lru")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.splitlines() == [
        f"Maxmemory policy for {addon} (REDIS_URL) set to allkeys-lru.",
        "allkeys-lru evict keys trying to remove the less recently used keys first."]
    assert "Maxmemory:  allkeys-lru" in daemon.cli("redis:info", addon, "-a", APP).stdout.replace("   ", "  ")

    # bad input: one line, nothing changed
    bad = daemon.cli("redis:maxmemory", "-a", APP, "--policy", "sometimes")
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "Unknown maxmemory policy" in bad.stderr and "allkeys-lru" in bad.stderr
    assert "allkeys-lru" in daemon.cli("redis:info", "-a", APP).stdout
    assert daemon.cli("redis:cli", "-a", APP, "-c", "").returncode == 1
    missing = daemon.cli("redis:info", "NOPE", "-a", APP)
    assert missing.returncode == 1 and "Couldn't find that add-on (NOPE)" in missing.stderr
    # a second instance: redis:cli and redis:maxmemory ask which one
    assert daemon.cli("addons:create", "heroku-redis:mini", "-a", APP).returncode == 0
    two = daemon.cli("redis:cli", "-a", APP, "-c", "PING")
    assert two.returncode == 1 and "Please specify a single instance. Found:" in two.stderr
    assert daemon.cli("redis:info", "-a", APP).stdout.count("=== redis-") == 2
