"""The router through the CLI and real HTTP: maintenance mode, custom domains (also after a daemon restart),
router metrics (snapshot, stream, `router:stats`)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from conftest import Daemon, checkout_of, git, start_daemon, stop_daemon, wait_for


def deploy(daemon: Daemon, repo: Path, app: str) -> None:
    created = daemon.cli("apps:create", app, cwd=repo)
    assert created.returncode == 0, created.stderr
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr
    wait_for(lambda: daemon.get(f"{app}.localhost").status_code == 200, message=f"{app} to answer")


def router_lines(daemon: Daemon, app: str) -> list[str]:
    logs = daemon.cli("logs", "-a", app, "-n", "1500", "--source", "heroku")
    assert logs.returncode == 0, logs.stderr
    return [line for line in logs.stdout.splitlines() if "heroku[router]:" in line]


def test_maintenance_mode_through_the_cli(daemon: Daemon, tmp_path: Path) -> None:
    repo = checkout_of("python-hello", tmp_path / "python-hello")
    deploy(daemon, repo, "demo")

    on = daemon.cli("maintenance:on", "-a", "demo")
    assert on.returncode == 0, on.stderr
    assert "Enabling maintenance mode for ⬢ demo... done" in on.stdout
    assert daemon.cli("maintenance", "-a", "demo").stdout.strip() == "on"
    response = daemon.get("demo.localhost", "/maintained")
    assert response.status_code == 503
    assert "Offline for maintenance" in response.text
    line = router_lines(daemon, "demo")[-1]
    assert 'heroku[router]: at=info code=H80 desc="Maintenance mode" method=GET path="/maintained" ' in line
    assert line.endswith("dyno= connect= service= status=503 bytes= protocol=http")
    # the dynos keep running through maintenance
    dynos = daemon.api("GET", "/apps/demo/dynos").json()
    assert [(d["name"], d["state"]) for d in dynos] == [("web.1", "up")]

    off = daemon.cli("maintenance:off", "-a", "demo")
    assert off.returncode == 0, off.stderr
    assert daemon.cli("maintenance", "-a", "demo").stdout.strip() == "off"
    assert daemon.get("demo.localhost").status_code == 200


def test_domains_and_router_metrics(tmp_path: Path) -> None:
    home = tmp_path / "home"
    daemon = start_daemon(home)
    try:
        repo = checkout_of("python-hello", tmp_path / "python-hello")
        deploy(daemon, repo, "demo")
        assert daemon.cli("apps:create", "other", cwd=tmp_path).returncode == 0

        added = daemon.cli("domains:add", "www.Example.com", "-a", "demo")
        assert added.returncode == 0, added.stderr
        assert "Adding www.Example.com to ⬢ demo... done" in added.stdout
        response = daemon.get("www.example.com", "/dyno")
        assert (response.status_code, response.text) == (200, "web.1\n")

        taken = daemon.cli("domains:add", "www.example.com", "-a", "other")
        assert taken.returncode == 1
        assert taken.stderr == " ▸    www.example.com is currently in use by another app.\n"
        reserved = daemon.cli("domains:add", "demo.localhost", "-a", "other")
        assert reserved.returncode == 1
        assert reserved.stderr == " ▸    demo.localhost is currently in use by another app (demo).\n"
        invalid = daemon.api("POST", "/apps/other/domains", json={"hostname": "not a host"})
        assert (invalid.status_code, invalid.json()["id"]) == (422, "invalid_params")

        listed = daemon.cli("domains", "-a", "demo")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[:2] == ["=== demo Heroku Domain", "demo.localhost"]
        assert "www.example.com  CNAME            demo.localhost" in listed.stdout
        api_domains = daemon.api("GET", "/apps/demo/domains").json()
        assert [(d["hostname"], d["kind"]) for d in api_domains] == [("demo.localhost", "heroku"),
                                                                     ("www.example.com", "custom")]
        assert set(api_domains[1]) >= {"id", "hostname", "kind", "cname", "app", "created_at"}
        assert api_domains[1]["app"]["name"] == "demo" and api_domains[1]["cname"] == "demo.localhost"

        # metrics: a snapshot, the stream, and the CLI table
        for _ in range(5):
            assert daemon.get("demo.localhost").status_code == 200
        snapshot = daemon.api("GET", "/apps/demo/router-metrics").json()
        assert snapshot["app"] == "demo" and snapshot["requests"] >= 6
        assert snapshot["status"]["2xx"] >= 6 and snapshot["window_seconds"] == 60
        assert [d["name"] for d in snapshot["dynos"]] == ["web.1"]
        headers = {"Authorization": f"Bearer {daemon.token}"}
        url = f"http://127.0.0.1:{daemon.api_port}/apps/demo/router-metrics/stream"
        with httpx.stream("GET", url, headers=headers, timeout=10) as stream:
            assert stream.headers["content-type"].startswith("application/x-ndjson")
            lines = []
            for line in stream.iter_lines():
                lines.append(json.loads(line))
                if len(lines) == 2:
                    break
        assert [set(s) for s in lines] == [set(snapshot)] * 2
        stats = daemon.cli("router:stats", "-a", "demo")
        assert stats.returncode == 0, stats.stderr
        assert "web.1" in stats.stdout and "Status since start: 2xx" in stats.stdout

        # the routing table learns stored domains again when the daemon starts
        stop_daemon(daemon)
        daemon = start_daemon(home)
        wait_for(lambda: daemon.get("www.example.com").status_code == 200, message="the custom domain after a restart")

        removed = daemon.cli("domains:remove", "www.example.com", "-a", "demo")
        assert removed.returncode == 0, removed.stderr
        assert "Removing www.example.com from ⬢ demo... done" in removed.stdout
        assert daemon.get("www.example.com").status_code == 404
        missing = daemon.cli("domains:remove", "www.example.com", "-a", "demo")
        assert missing.returncode == 1 and "Couldn't find that domain" in missing.stderr
    finally:
        stop_daemon(daemon)
