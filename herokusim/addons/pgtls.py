"""addons/pgtls: the TLS front of the heroku-postgresql server (the wheel's PostgreSQL has no OpenSSL).

It speaks only the first message of PostgreSQL's protocol (https://www.postgresql.org/docs/current/
protocol-flow.html#PROTOCOL-FLOW-SSL): an SSLRequest is answered `S` and the connection becomes TLS, then
every byte is relayed to the server's unix socket, which authenticates the role itself; a GSSENCRequest is
answered `N` (the client then asks for TLS); a CancelRequest is relayed as it is (libpq sends it without
TLS); a plain StartupMessage is refused with the error PostgreSQL gives for a `hostnossl ... reject` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from pathlib import Path

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
FIRST_MESSAGE_TIMEOUT = 30.0
MAX_STARTUP = 10_000  # PostgreSQL's own limit on a startup packet


class TlsFront:
    """Listens on `addresses` at `port`; relays TLS sessions to the unix socket `upstream`."""

    def __init__(self, addresses: tuple[str, ...], port: int, upstream: Path, certfile: Path, keyfile: Path):
        self.addresses, self.port, self.upstream = addresses, port, upstream
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certfile, keyfile)
        self._servers: list[asyncio.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        try:
            for address in self.addresses:
                self._servers.append(await asyncio.start_server(self._client, address, self.port))
        except OSError as exc:
            await self.stop()
            from herokusim.addons.provider import AddonError

            raise AddonError(f"the Postgres port {self.port} is taken on {address}: {exc.strerror}") from exc

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._writers):
            writer.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._session(reader, writer)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ssl.SSLError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):  # a GSSENCRequest, then (libpq's fallback) an SSLRequest
            head = await asyncio.wait_for(reader.readexactly(8), FIRST_MESSAGE_TIMEOUT)
            length, code = struct.unpack("!ii", head)
            if length < 8 or length > MAX_STARTUP:
                return
            if length == 8 and code == GSSENC_REQUEST:
                writer.write(b"N")
                await writer.drain()
                continue
            if length == 8 and code == SSL_REQUEST:
                writer.write(b"S")
                await writer.drain()
                await writer.start_tls(self.context)
                await self._relay(reader, writer, b"")
                return
            rest = await asyncio.wait_for(reader.readexactly(length - 8), FIRST_MESSAGE_TIMEOUT)
            if code == CANCEL_REQUEST:
                await self._relay(reader, writer, head + rest, one_shot=True)
                return
            writer.write(_no_encryption_error(writer, rest))
            await writer.drain()
            return

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bytes,
                     one_shot: bool = False) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(str(self.upstream))
        except OSError:
            if not one_shot:
                writer.write(_error("57P03", "the database system is not accepting connections",
                                    "the Postgres server is restarting: try again in a moment"))
                await writer.drain()
            return
        try:
            if first:
                up_writer.write(first)
                await up_writer.drain()
            if one_shot:
                return
            pipes = [asyncio.ensure_future(_pipe(reader, up_writer)), asyncio.ensure_future(_pipe(up_reader, writer))]
            _done, pending = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ssl.SSLError, ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()


def _error(sqlstate: str, message: str, hint: str | None = None) -> bytes:
    fields = b"SFATAL\0VFATAL\0C" + sqlstate.encode() + b"\0M" + message.encode() + b"\0"
    if hint:
        fields += b"H" + hint.encode() + b"\0"
    body = fields + b"\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body


def _no_encryption_error(writer: asyncio.StreamWriter, startup: bytes) -> bytes:
    """PostgreSQL's refusal of a connection without TLS, naming the host, user and database asked for."""
    params: dict[str, str] = {}
    parts = startup.split(b"\0")  # after the length and protocol version: key, value, ..., ""
    for key, value in zip(parts[::2], parts[1::2], strict=False):
        if key:
            params[key.decode(errors="replace")] = value.decode(errors="replace")
    peer = writer.get_extra_info("peername")
    host = peer[0] if isinstance(peer, tuple) else "unknown"
    user = params.get("user", "")
    database = params.get("database", user)
    return _error("28000", f'no pg_hba.conf entry for host "{host}", user "{user}", database "{database}", '
                           "no encryption", "Heroku Postgres requires TLS: connect with sslmode=require")
