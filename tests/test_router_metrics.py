"""router:stats as a user reads it: each dyno's req/s and the app's come from one window, so they add up."""

from __future__ import annotations

from pathlib import Path

from conftest import Daemon, checkout_of, git, wait_for

from herokusim.router.metrics import AppMetrics


def test_dyno_rates_add_up_to_the_apps_when_a_dyno_joined_later() -> None:
    """web.1 serves one request a second for a minute; web.2, scaled up later, one a second for the last 20 s."""
    metrics = AppMetrics()
    for second in range(100, 160):
        metrics.record(second + 0.5, 200, None, "web.1", 1, 5)
        if second >= 140:
            metrics.record(second + 0.5, 200, None, "web.2", 1, 5)
    snap = metrics.snapshot("demo", 160.0, {})
    rates = {d["name"]: d["requests_per_second"] for d in snap["dynos"]}
    # the window is the last 60 s (101..160): web.1 served 59 requests in it, web.2 20, the app 79
    assert rates == {"web.1": 1.0, "web.2": 0.3}
    assert snap["requests_per_second"] == 1.3
    assert abs(sum(rates.values()) - snap["requests_per_second"]) <= 0.05 * (len(rates) + 1)


def test_a_young_app_divides_by_the_time_since_its_first_request() -> None:
    metrics = AppMetrics()
    for tenth in range(100):  # 10 s, ten requests a second, alternating dynos
        metrics.record(1000 + tenth / 10, 200, None, f"web.{tenth % 2 + 1}", 1, 5)
    snap = metrics.snapshot("demo", 1010.0, {})
    assert snap["requests_per_second"] == 10.0
    assert [d["requests_per_second"] for d in snap["dynos"]] == [5.0, 5.0]


def _stats(daemon: Daemon, app: str) -> dict:  # type: ignore[type-arg]
    return daemon.api("GET", f"/apps/{app}/router-metrics").json()


def _dyno_states(daemon: Daemon, app: str) -> dict[str, str]:
    return {d["name"]: d["state"] for d in daemon.api("GET", f"/apps/{app}/dynos").json()}


def test_router_stats_dyno_rates_sum_to_the_apps(daemon: Daemon, tmp_path: Path) -> None:
    repo = checkout_of("python-hello", tmp_path / "summed")
    assert daemon.cli("apps:create", "summed").returncode == 0
    assert daemon.cli("git:remote", "-a", "summed", cwd=repo).returncode == 0
    push = git("push", "herokusim", "main", cwd=repo, env=daemon.env)
    assert push.returncode == 0, push.stderr
    wait_for(lambda: _dyno_states(daemon, "summed") == {"web.1": "up"}, message="web.1 up")
    for _ in range(30):
        assert daemon.get("summed.localhost").status_code == 200
    wait_for(lambda: _stats(daemon, "summed")["requests"] == 30, message="the first requests counted")
    # web.2 joins seconds later: its first request is later than web.1's, as after a ps:scale
    assert daemon.cli("ps:scale", "web=2", "-a", "summed").returncode == 0
    wait_for(lambda: _dyno_states(daemon, "summed") == {"web.1": "up", "web.2": "up"}, message="web.2 up")
    wait_for(lambda: _stats(daemon, "summed")["requests_per_second"] < 30 / 3, timeout=60,
             message="a few seconds since the first request")
    for _ in range(60):
        assert daemon.get("summed.localhost").status_code == 200
    stats = _stats(daemon, "summed")
    assert stats["requests"] == 90 and {d["name"] for d in stats["dynos"]} == {"web.1", "web.2"}
    total = sum(d["requests_per_second"] for d in stats["dynos"])
    assert abs(total - stats["requests_per_second"]) <= 0.05 * 3, stats
    table = daemon.cli("router:stats", "-a", "summed")
    assert table.returncode == 0, table.stderr
    shown = {line.split()[0]: float(line.split()[3]) for line in table.stdout.splitlines()
             if line.split() and line.split()[0] in ("web.1", "web.2", "all")}
    assert abs(shown["web.1"] + shown["web.2"] - shown["all"]) <= 0.15, table.stdout
