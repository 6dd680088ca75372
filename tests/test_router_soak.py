"""router/ soak: 200 keep-alive clients for 20 s across 4 dynos, one dyno crashing midway.

Every request a client sends carries its own X-Request-Id, so each can be matched with its router line:
no request may be lost without an H-code line, and no socket may leak.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

from test_router import APP_ID, Client, Dyno, Seen, hello, parse_line, platform, until
from test_router_codes import run_long

from herokusim.logplex import LogLine

CLIENTS = 200
DURATION = 20.0
CRASH_AT = DURATION / 2


def open_sockets() -> int:
    """Sockets this process holds (the event loop's own lazily made pipes and eventfds do not count)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


@run_long(DURATION + 60)
async def test_soak_200_clients_4_dynos_one_crashing(tmp_path: Path) -> None:
    sockets_before = open_sockets()
    connections: dict[str, set[asyncio.StreamWriter]] = {}

    async def tracked(dyno: Dyno, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.setdefault(dyno.name, set()).add(writer)
        await asyncio.sleep(random.random() * 0.004)
        await hello(dyno, seen, reader, writer)

    async with platform(tmp_path, tracked, tracked, tracked, tracked, router_quarantine=1.0) as p:
        lines: dict[str, str] = {}
        publish_line = p.logplex.publish_line

        def record(app_id: str, line: LogLine) -> None:
            if line.process == "router":
                fields = parse_line(line.message)
                assert fields["request_id"] not in lines, "one router line per request"
                lines[fields["request_id"]] = line.message
            publish_line(app_id, line)

        p.logplex.publish_line = record  # type: ignore[method-assign]
        outcomes: dict[str, int | None] = {}  # request id -> status the client saw (None: no response)
        stop_at = time.monotonic() + DURATION

        async def client_loop(number: int) -> None:
            sent = 0
            client = await Client.open(p.port)
            while time.monotonic() < stop_at:
                request_id = f"soak-client-{number:03d}-request-{sent:08d}"
                sent += 1
                client.request("GET", f"/{number}/{sent}", headers={"X-Request-Id": request_id})
                try:
                    response = await client.response()
                except (AssertionError, ConnectionError):
                    outcomes[request_id] = None  # the router cut this connection: reconnect
                    client.close()
                    client = await Client.open(p.port)
                    continue
                outcomes[request_id] = response.status
                if response.headers.get("connection") == "close":
                    client.close()
                    client = await Client.open(p.port)
            client.close()

        async def crash_one_dyno() -> None:
            await asyncio.sleep(CRASH_AT)
            victim = p.dynos[3]
            await victim.stop()  # the dyno process dies: its port refuses, its connections reset
            for writer in connections.get(victim.name, set()):
                writer.transport.abort()
            await asyncio.sleep(0.2)  # then dynos/ notices and publishes the table without it
            p.table.set_backends(APP_ID, [d.backend() for d in p.dynos[:3]], crashed=False)

        await asyncio.gather(crash_one_dyno(), *(client_loop(n) for n in range(CLIENTS)))
        # the last router lines: every request answered or cut has one once nothing is in flight
        await until(lambda: p.route.metrics.inflight == 0 and all(rid in lines for rid in outcomes),
                    "a router line for every request")

        assert len(outcomes) > CLIENTS * 20, f"only {len(outcomes)} requests in {DURATION} s"
        missing = [rid for rid in outcomes if rid not in lines]
        assert not missing, f"{len(missing)} requests without a router line, e.g. {missing[:3]}"
        for request_id, status in outcomes.items():
            fields = parse_line(lines[request_id])
            if status == 200:
                assert fields["status"] == "200" and "code" not in fields, lines[request_id]
            else:
                assert fields.get("code", "").startswith("H"), f"{status}: {lines[request_id]}"
        served = {parse_line(line)["dyno"] for line in lines.values()}
        assert served == {"web.1", "web.2", "web.3", "web.4"}
        failed = sum(status != 200 for status in outcomes.values())
        assert failed < len(outcomes) * 0.01, f"{failed} of {len(outcomes)} requests failed"
        assert p.route.metrics.inflight == 0
        assert all(backend.inflight == 0 for backend in p.route.backends)

    await until(lambda: open_sockets() == sockets_before, "the sockets to close (else they leaked)")
