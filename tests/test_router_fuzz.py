"""router/: property-based tests of the router's request parsing (hypothesis), against a real Router in front
of a real fast dyno (the harness of test_router.py).

Generated request heads and bodies — methods, targets, header names and values with odd bytes, Content-Length
and Transfer-Encoding combinations, pipelining, truncation — are sent on one connection. Whatever arrives,
the router does not crash, the connection gets valid HTTP responses and then a clean close (or stays open,
idle, once every request was answered), every request the dyno answered has its router line, and a normal
request still succeeds afterwards. Examples are bounded and derandomized.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import httptools
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_router import Client, get, parse_line, platform

METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE", b"get", b"BREW",
           b"G\x00T", b""]
HOSTS = [b"demo.localhost", b"DEMO.localhost:5000", b"nope.localhost", b"", b"demo.localhost\x00", b"d\xffmo"]
ODD = st.binary(max_size=12) | st.sampled_from([b"\r", b"\n", b"\r\n", b" ", b"\t", b":", b"\x00", b"\x7f", b"\xff"])


@st.composite
def tokens(draw: st.DrawFn) -> bytes:
    return draw(st.text("abcXYZ-_019", min_size=1, max_size=10)).encode() + draw(st.just(b"") | ODD)


@st.composite
def header(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from([b"Content-Length", b"Transfer-Encoding", b"X-Request-Id", b"Via", b"Connection",
                                 b"Expect", b"Upgrade", b"X-Forwarded-For"]) | tokens())
    value = draw(st.sampled_from([b"0", b"5", b"-1", b"99999999999999999999", b"chunked", b"gzip, chunked",
                                  b"close", b"keep-alive", b"100-continue", b"websocket", b" 3 "]) | ODD)
    return name + draw(st.sampled_from([b": ", b":", b" : ", b"\t: "])) + value


@st.composite
def body(draw: st.DrawFn) -> bytes:
    raw = draw(st.binary(max_size=40))
    if draw(st.booleans()):  # chunked framing, possibly broken
        size = draw(st.sampled_from([b"%x" % len(raw), b"zz", b"-1", b"%x;ext=1" % len(raw), b"FFFFFFFFFFFFFFFFFF"]))
        return size + b"\r\n" + raw + draw(st.sampled_from([b"\r\n0\r\n\r\n", b"\r\n", b"0\r\n\r\n", b""]))
    return raw


@st.composite
def request(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(METHODS))
    target = draw(st.sampled_from([b"/", b"/x?y=1", b"*", b"http://demo.localhost/abs", b"/%00", b"/\xff"]) | tokens())
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.x", b""]))
    lines = [method + b" " + target + b" " + version]
    host = draw(st.sampled_from(HOSTS))
    if draw(st.integers(0, 9)):  # mostly with a Host
        lines.append(b"Host: " + host)
    lines += draw(st.lists(header(), max_size=5))
    return b"\r\n".join(lines) + b"\r\n\r\n" + draw(body())


@st.composite
def conversation(draw: st.DrawFn) -> list[bytes]:
    """The bytes a client sends on one connection, as the writes it makes."""
    data = b"".join(draw(st.lists(request(), min_size=1, max_size=4)))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]  # truncated anywhere
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True) if data[a:b]]


@dataclass
class Answer:
    status: int
    body: bytes


def parse_responses(data: bytes) -> list[Answer]:
    """The HTTP responses in `data`; asserts there is nothing else (garbage, a response cut off)."""
    answers: list[Answer] = []
    begun = 0

    class Callbacks:
        def __init__(self) -> None:
            self.parts: list[bytes] = []

        def on_message_begin(self) -> None:
            nonlocal begun
            begun += 1

        def on_body(self, part: bytes) -> None:
            self.parts.append(part)

        def on_message_complete(self) -> None:
            answers.append(Answer(parser.get_status_code(), b"".join(self.parts)))
            self.parts = []

    parser = httptools.HttpResponseParser(Callbacks())
    parser.feed_data(data)  # raises on anything that is not HTTP
    assert begun == len(answers), f"a response was cut off: {data[-300:]!r}"
    return answers


UNROUTED = (b"No such app", b"could not parse", b"does not accept CONNECT")  # the router's pages without a line


class Reset(Exception):
    """The router reset the connection; `received` is what arrived before."""

    def __init__(self, received: bytes) -> None:
        super().__init__("connection reset")
        self.received = received


async def exchange(port: int, writes: list[bytes]) -> tuple[bytes, bool]:
    """Send the writes, then read until the router closes or goes quiet; (what arrived, closed). A reset
    raises Reset: the test accepts one only where the client went on writing after a request that closes
    the connection (HTTP/1.0, `Connection: close`), which TCP answers with a reset once the router lets go."""
    client = await Client.open(port)
    try:
        for data in writes:
            client.send(data)
            await asyncio.sleep(0)
        received = b""
        while True:
            try:
                chunk = await asyncio.wait_for(client.reader.read(65536), 0.3)
            except TimeoutError:
                return received, False
            except ConnectionResetError:
                raise Reset(received) from None
            if not chunk:
                return received, True
            received += chunk
    finally:
        client.close()


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(writes=conversation())
def test_the_router_survives_whatever_a_client_sends(tmp_path: Path, writes: list[bytes]) -> None:
    async def scenario() -> None:
        async with platform(tmp_path, router_idle_timeout=5.0) as p:
            try:
                received, _ = await exchange(p.port, writes)
            except Reset as reset:
                sent = b"".join(writes)
                assert b"HTTP/1.0" in sent or b"close" in sent.lower(), "a reset on a keep-alive conversation"
                received = reset.received
            # responses for a HEAD request have no body, which a plain response parser cannot know
            if b"HEAD" not in b"".join(writes):
                answers = parse_responses(received)
                from_dyno = [a for a in answers if a.body == b"hello from web.1"]
                lines = [parse_line(line) for line in p.lines()]
                assert len([f for f in lines if f["status"] == "200"]) == len(from_dyno)
                assert len(p.dynos[0].requests) >= len(from_dyno)
                routed = [a for a in answers if not any(page in a.body for page in UNROUTED)]
                assert len(lines) >= len(routed)  # every answer about the app has its router line
            else:
                assert received == b"" or received.startswith(b"HTTP/1.")
            # and the router still serves a well-formed request
            after = await get(p.port, "/after")
            assert (after.status, after.body) == (200, b"hello from web.1")
            assert p.route.metrics.inflight == 0 and all(b.inflight == 0 for b in p.route.backends)

    asyncio.run(asyncio.wait_for(scenario(), 20))
