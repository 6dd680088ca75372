"""The simulated clock: durations, time scale, timers firing in order, warps logging at each timer's time,
and a clock that a daemon restart does not set back."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Daemon, checkout_of, git, start_daemon, stop_daemon, wait_for

from herokusim.cli.output import parse_time
from herokusim.clock import Clock, ClockState, parse_duration
from herokusim.store import Store


@pytest.mark.parametrize("text,seconds", [("24h", 86400), ("90m", 5400), ("1d12h", 129600), ("30s", 30),
                                          ("1d3h36m", 99360), ("45", 45), ("1.5h", 5400)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "h", "24x", "-5m", "1h-2m"])
def test_malformed_durations_say_so(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_warp_fires_due_timers_in_order_each_at_its_own_time() -> None:
    async def scenario() -> tuple[list[tuple[str, int]], int]:
        clock = Clock()
        clock.start()
        start = clock.time()
        fired: list[tuple[str, int]] = []

        def record(tag: str):  # type: ignore[no-untyped-def]
            async def callback() -> None:
                fired.append((tag, round(clock.time() - start)))
            return callback

        clock.call_later(3600, record("1h"))
        clock.call_later(60, record("1m"))
        clock.call_later(120, record("cancelled")).cancel()
        clock.call_later(86400, record("tomorrow"))
        await clock.warp(7200)
        elapsed = round(clock.time() - start)
        await clock.stop()
        return fired, elapsed

    fired, elapsed = asyncio.run(scenario())
    assert fired == [("1m", 60), ("1h", 3600)]
    assert elapsed == 7200


def test_a_timer_set_by_a_timer_fires_in_the_same_warp() -> None:
    """A dyno cycled during a warp schedules its next cycle, and a long warp cycles it again."""
    async def scenario() -> list[int]:
        clock = Clock()
        start = clock.time()
        fired: list[int] = []

        async def cycle() -> None:
            fired.append(round(clock.time() - start))
            clock.call_later(100, cycle)

        clock.call_later(100, cycle)
        await clock.warp(350)
        return fired

    assert asyncio.run(scenario()) == [100, 200, 300]


def test_time_scale_runs_timers_faster() -> None:
    async def scenario() -> bool:
        clock = Clock(scale=3600)  # an hour per second
        clock.start()
        done = asyncio.Event()

        async def fire() -> None:
            done.set()

        clock.call_later(360, fire)  # six simulated minutes: 0.1 s
        try:
            async with asyncio.timeout(5):
                await done.wait()
            return True
        finally:
            await clock.stop()

    assert asyncio.run(scenario())


def test_bad_warps_are_refused() -> None:
    async def scenario() -> None:
        clock = Clock()
        for seconds in (0, -1, 400 * 86400):
            with pytest.raises(ValueError, match="warp"):
                await clock.warp(seconds)

    asyncio.run(scenario())


# --- the clock survives a daemon restart -----------------------------------------------------------------

def test_a_stopped_daemons_clock_goes_on_from_where_it_was() -> None:
    saved = ClockState(sim=5_000_000.0, real=1_000_000.0, scale=60.0, running=False)
    assert saved.resumed(1_000_100.0) == 5_000_100.0, "the real time it was away passes once"
    crashed = ClockState(sim=5_000_000.0, real=1_000_000.0, scale=60.0, running=True)
    assert crashed.resumed(1_000_100.0) == 5_006_000.0, "after a crash: as if it had run at its scale"
    assert saved.resumed(999_000.0) == 5_000_000.0, "a wall clock set back never sets the clock back"


def test_the_store_keeps_the_clock_and_a_given_scale_wins(tmp_path: Path) -> None:
    async def scenario() -> tuple[float, float, float, float, float]:
        clock = Clock()
        store = await Store.open(tmp_path / "db.sqlite", clock)
        await store.resume_clock(60.0)
        await clock.warp(86400)
        await store.save_clock()
        warped = clock.time()
        await store.close()

        again = Clock()
        store = await Store.open(tmp_path / "db.sqlite", again)
        await store.resume_clock(None)
        resumed, kept_scale = again.time(), again.scale
        await store.close()

        given = Clock()
        store = await Store.open(tmp_path / "db.sqlite", given)
        await store.resume_clock(2.0)
        await store.close()
        return warped, resumed, kept_scale, given.scale, given.time()

    warped, resumed, kept_scale, given_scale, given_time = asyncio.run(scenario())
    assert resumed >= warped, "the warp is not lost"
    assert resumed < warped + 3600, "a stopped daemon's clock does not run on at its scale"
    assert kept_scale == 60.0, "no scale given: the saved one"
    assert given_scale == 2.0, "a scale given explicitly wins"
    assert given_time >= resumed


def _clock_now(daemon: Daemon) -> datetime:
    result = daemon.cli("clock")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("Simulated time:"))
    return datetime.strptime(line.split(":", 1)[1].strip(), "%Y/%m/%d %H:%M:%S %z")


def _newest_release(daemon: Daemon, app: str) -> datetime:
    releases = daemon.api("GET", f"/apps/{app}/releases").json()
    return parse_time(max(releases, key=lambda r: r["version"])["created_at"])


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_a_warp_survives_a_daemon_restart(tmp_path: Path, how: str) -> None:
    """Warp 24 h, release, restart the daemon: time has not gone back and the release is not in the future."""
    home = tmp_path / "home"
    first = start_daemon(home, HEROKUSIM_TIME_SCALE="60")
    try:
        repo = checkout_of("python-hello", tmp_path / "warped")
        assert first.cli("apps:create", "warped").returncode == 0
        assert first.cli("git:remote", "-a", "warped", cwd=repo).returncode == 0
        push = git("push", "herokusim", "main", cwd=repo, env=first.env)
        assert push.returncode == 0, push.stderr
        warp = first.cli("clock:warp", "24h")
        assert warp.returncode == 0, warp.stderr
        warped = _clock_now(first)
        assert warped > datetime.now(UTC) + timedelta(hours=23)
        assert first.cli("config:set", "DURING=warp", "-a", "warped").returncode == 0
        released = _newest_release(first, "warped")
        if how == "killed":
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait()
    finally:
        stop_daemon(first)
    second = start_daemon(home)  # no scale given: the saved one
    try:
        now = _clock_now(second)
        assert now >= warped
        assert released <= now, "the release made during the warp is not in the future"
        clock = second.api("GET", "/clock").json()
        assert clock["time_scale"] == 60, "the saved scale, when none is given"
        # reconcile starts the formation afresh on the resumed clock: born after the warp, cycling ahead
        (web,) = wait_for(lambda: [d for d in second.api("GET", "/apps/warped/dynos").json() if d["state"] == "up"],
                          message="web.1 back up")  # its cycle is set once it is up
        now = _clock_now(second)
        assert warped <= parse_time(web["created_at"]) <= now
        assert now < parse_time(web["cycle_at"]) <= now + timedelta(hours=24, minutes=216, seconds=60)
        assert second.cli("config:set", "AFTER=restart", "-a", "warped").returncode == 0
        assert _newest_release(second, "warped") >= released, "releases go on in order"
    finally:
        stop_daemon(second)
    third = start_daemon(home, HEROKUSIM_TIME_SCALE="1")
    try:
        assert third.api("GET", "/clock").json()["time_scale"] == 1, "a scale given explicitly wins"
        assert _clock_now(third) >= warped
    finally:
        stop_daemon(third)


def test_a_new_scale_keeps_the_time_so_far_and_fires_timers_at_their_simulated_moment() -> None:
    async def scenario() -> tuple[float, list[float]]:
        clock = Clock(scale=1.0)
        clock.start()
        try:
            fired: list[float] = []

            async def note() -> None:
                fired.append(clock.time())

            before = clock.time()
            clock.call_later(3600, note)  # a simulated hour from now: an hour of real time at scale 1
            clock.set_scale(36000.0)  # ... and a tenth of a second at 36000
            assert clock.time() - before < 5  # no jump: the time so far is kept
            for _ in range(100):
                if fired:
                    break
                await asyncio.sleep(0.05)
            with pytest.raises(ValueError):
                clock.set_scale(0)
            return before, fired
        finally:
            await clock.stop()

    before, fired = asyncio.run(scenario())
    assert fired and fired[0] - before >= 3600
