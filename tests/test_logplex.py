"""logplex: the 1500-line ring, filters, long-line splitting and live tails."""

from __future__ import annotations

import asyncio

from herokusim.clock import Clock
from herokusim.logplex import LogFilter, Logplex


def test_ring_keeps_last_1500_and_logs_prints_100_by_default() -> None:
    logplex = Logplex(Clock())
    for n in range(2000):
        logplex.publish("app1", "app", "web.1", f"line {n}")
    assert len(logplex.history("app1", num=5000)) == 1500
    recent = logplex.history("app1")
    assert len(recent) == 100 and recent[-1].message == "line 1999"
    assert logplex.history("other") == []


def test_filters_by_source_dyno_and_process_type() -> None:
    logplex = Logplex(Clock())
    logplex.publish("a", "heroku", "router", "at=info")
    logplex.publish("a", "app", "web.1", "hello")
    logplex.publish("a", "app", "worker.2", "working")
    logplex.publish("a", "heroku", "web.1", "State changed from starting to up")
    assert [l.message for l in logplex.history("a", where=LogFilter(source="app"))] == ["hello", "working"]
    assert [l.message for l in logplex.history("a", where=LogFilter(dyno="web.1"))] == \
        ["hello", "State changed from starting to up"]
    assert [l.message for l in logplex.history("a", where=LogFilter(ps="worker"))] == ["working"]


def test_render_is_heroku_format() -> None:
    logplex = Logplex(Clock())
    logplex.publish("a", "app", "web.1", "Listening on 0.0.0.0:31415")
    rendered = logplex.history("a")[0].render()
    stamp, rest = rendered.split(" ", 1)
    assert rest == "app[web.1]: Listening on 0.0.0.0:31415"
    assert stamp.endswith("+00:00") and len(stamp.split(".")[1]) == len("123456+00:00")


def test_long_lines_split_into_10000_byte_pieces() -> None:
    logplex = Logplex(Clock())
    logplex.publish("a", "app", "web.1", "x" * 25_000)
    assert [len(l.message) for l in logplex.history("a")] == [10_000, 10_000, 5_000]


def test_tail_gives_backlog_then_live_lines_and_ends_on_drop() -> None:
    async def scenario() -> list[str]:
        logplex = Logplex(Clock())
        logplex.publish("a", "app", "web.1", "old")
        seen: list[str] = []

        async def reader() -> None:
            async for line in logplex.tail("a", num=10, where=LogFilter(source="app")):
                seen.append(line.message)

        task = asyncio.create_task(reader())
        await asyncio.sleep(0.01)
        logplex.publish("a", "heroku", "router", "filtered out")
        logplex.publish("a", "app", "web.1", "new")
        await asyncio.sleep(0.01)
        logplex.drop("a")
        await asyncio.wait_for(task, 30)
        return seen

    assert asyncio.run(scenario()) == ["old", "new"]
