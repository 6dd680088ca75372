"""The simulated clock: durations, time scale, timers firing in order, warps logging at each timer's time."""

from __future__ import annotations

import asyncio

import pytest

from herokusim.clock import Clock, parse_duration


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
