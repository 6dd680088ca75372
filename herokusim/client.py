"""The Platform API client, sync and async, used by the CLI and the TUI.

One place owns how herokusim's clients talk to the daemon: the Accept header and timeouts, where the API token
comes from, how a path is escaped, how a streamed answer becomes lines, and how an HTTP answer or a failed
connection becomes one `ApiError` whose `message` is the line the user reads (the API's own `message` and
`id`, or what failed on the way). `Client` blocks (the CLI); `AsyncClient` awaits (the TUI). Both build their
requests and read their answers with the same `ClientBase` methods; only the I/O differs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, overload
from urllib.parse import quote

import httpx

from herokusim.config import TUI_USER_AGENT, Settings

ACCEPT = "application/vnd.heroku+json; version=3"
CLI_USER_AGENT = "herokusim-cli"
TOKEN_ENV = "HEROKUSIM_API_KEY"
REQUEST_TIMEOUT = 30.0  # seconds; the daemon is on loopback, so only a stuck daemon takes this long
STREAM_CONNECT_TIMEOUT = 10.0  # seconds; a stream may then stay silent for as long as it likes
STREAM_TIMEOUT = httpx.Timeout(STREAM_CONNECT_TIMEOUT, read=None)


# --- errors -------------------------------------------------------------------------------------------------


class ApiError(Exception):
    """What went wrong talking to the daemon, as one line for the user: the API's own message with its HTTP
    status and error id, or (status 0, no id) what failed on the way."""

    def __init__(self, message: str, status: int = 0, error_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.id = error_id


class DaemonNotRunning(ApiError):
    """Nothing answers at the API's address. The CLI prints this message as it is (no error prefix)."""

    def __init__(self, api_url: str, message: str | None = None) -> None:
        super().__init__(message or f"herokusim: the daemon is not running at {api_url}; "
                                    "start it with `herokusim up`")
        self.api_url = api_url


class Unavailable(ApiError):
    """The daemon does not offer this endpoint (yet): the TUI's pane stays empty and says so."""


def error_of(response: httpx.Response) -> ApiError:
    """The error a non-2xx answer means: the API's `message` (else the HTTP status line) and `id`."""
    error_id, message = "", ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error_id = str(body.get("id") or "")
        message = str(body.get("message") or "")
    message = message or f"{response.status_code} {response.reason_phrase}"
    missing_endpoint = (response.status_code == 404 and "API endpoint" in message) or response.status_code == 405
    kind = Unavailable if missing_endpoint else ApiError
    return kind(message, response.status_code, error_id)


# --- what every request needs -------------------------------------------------------------------------------


def load_token(settings: Settings) -> str:
    """The API token: HEROKUSIM_API_KEY if set, else the file the daemon writes on its first start."""
    token = os.environ.get(TOKEN_ENV)
    if token:
        return token.strip()
    try:
        return settings.token_path.read_text().strip()
    except FileNotFoundError:
        raise ApiError(f"herokusim has never run with HEROKUSIM_HOME={settings.home} (no token there); "
                       "start it with `herokusim up`") from None
    except OSError as exc:
        raise ApiError(f"Cannot read the API token at {settings.token_path}: {exc.strerror}.") from None


def app_path(app: str, *rest: str) -> str:
    """`/apps/demo/releases/3`, every segment escaped."""
    return "/".join(["/apps", *(quote(part, safe="") for part in (app, *rest))])


@overload
def parse_time(value: str) -> datetime: ...
@overload
def parse_time(value: None) -> None: ...
def parse_time(value: str | None) -> datetime | None:
    """An API timestamp; one without an offset is taken as UTC, as the API means it. None (or "") stays None."""
    if not value:
        return None
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# --- streamed answers as lines ------------------------------------------------------------------------------


def _split(rest: str, chunk: str) -> tuple[list[str], str]:
    """The whole lines that `rest` (an unfinished line) plus `chunk` complete, and what is left unfinished."""
    *complete, rest = (rest + chunk).split("\n")
    return complete, rest


def line_batches(response: httpx.Response) -> Iterator[list[str]]:
    """A streamed text answer as batches of whole lines, one batch per network read."""
    if not response.is_success:
        response.read()
        raise error_of(response)
    rest = ""
    for chunk in response.iter_text():
        complete, rest = _split(rest, chunk)
        if complete:
            yield complete
    if rest:
        yield [rest]


async def aline_batches(response: httpx.Response) -> AsyncIterator[list[str]]:
    """`line_batches` of an async answer."""
    if not response.is_success:
        await response.aread()
        raise error_of(response)
    rest = ""
    async for chunk in response.aiter_text():
        complete, rest = _split(rest, chunk)
        if complete:
            yield complete
    if rest:
        yield [rest]


# --- the clients --------------------------------------------------------------------------------------------


class ClientBase:
    """How a request is built and an answer read, whichever way the I/O goes.

    `not_running` is the message a refused connection gives (None: DaemonNotRunning's own, which the CLI
    prints); the TUI says it in its own words.
    """

    not_running: str | None = None
    timeout = REQUEST_TIMEOUT

    def __init__(self, api_url: str, token: Callable[[], str]) -> None:
        self.api_url = api_url
        self._token_source = token
        self._token: str | None = None

    def headers(self, range_: str | None = None) -> dict[str, str]:
        """The headers of one API request: the token (read on the first request) and an optional Range."""
        if self._token is None:
            self._token = self._token_source()
        headers = {"Authorization": f"Bearer {self._token}"}
        if range_:
            headers["Range"] = range_
        return headers

    def answer(self, response: httpx.Response, method: str, path: str, text: bool = False) -> Any:
        """The decoded JSON answer (or the body as text); ApiError for a non-2xx one."""
        if not response.is_success:
            raise error_of(response)
        if text:
            return response.text
        try:
            return response.json() if response.content else None
        except ValueError:
            raise ApiError(f"The daemon answered {method} {path} with something that is not JSON.") from None

    def failure(self, exc: httpx.HTTPError) -> ApiError:
        """The error a request that got no answer means."""
        if isinstance(exc, httpx.ConnectError):
            return self._not_running()
        if isinstance(exc, httpx.TimeoutException):
            return ApiError(f"The daemon at {self.api_url} did not answer within {self.timeout:.0f}s.")
        return ApiError(f"Lost the connection to the daemon at {self.api_url}: {exc}")

    def stream_failure(self, exc: httpx.HTTPError, what: str) -> ApiError:
        """The error a stream (`what`: "log stream", ...) that could not start or broke off means."""
        if isinstance(exc, httpx.ConnectError):
            return self._not_running()
        return ApiError(f"The {what} from {self.api_url} broke off: {exc}")

    def _not_running(self) -> DaemonNotRunning:
        message = self.not_running.format(api_url=self.api_url) if self.not_running else None
        return DaemonNotRunning(self.api_url, message)


class Client(ClientBase):
    """A blocking client of the daemon's Platform API (the CLI's); the token is read on the first request."""

    def __init__(self, settings: Settings, timeout: float = REQUEST_TIMEOUT) -> None:
        super().__init__(settings.api_url, lambda: load_token(settings))
        self.settings = settings
        self.timeout = timeout
        self._http = httpx.Client(base_url=settings.api_url, timeout=timeout,
                                  headers={"Accept": ACCEPT, "User-Agent": CLI_USER_AGENT})

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, json: Any = None, range_: str | None = None,
                text: bool = False) -> Any:
        """One API call: the decoded JSON answer (or the body as text), or ApiError."""
        headers = self.headers(range_)
        try:
            response = self._http.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise self.failure(exc) from None
        return self.answer(response, method, path, text)

    def get(self, path: str, range_: str | None = None) -> Any:
        return self.request("GET", path, range_=range_)

    def post(self, path: str, json: Any = None) -> Any:
        return self.request("POST", path, json=json if json is not None else {})

    def patch(self, path: str, json: Any) -> Any:
        return self.request("PATCH", path, json=json)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def latest_release(self, app: str) -> dict[str, Any] | None:
        releases = self.get(app_path(app, "releases"), range_="version ..; order=desc, max=1")
        return releases[0] if releases else None

    def stream_lines(self, url: str) -> Iterator[str]:
        """The lines of a log session's logplex_url as they arrive (the URL carries its own secret)."""
        try:
            with httpx.stream("GET", url, timeout=STREAM_TIMEOUT) as response:
                for batch in line_batches(response):
                    for line in batch:
                        yield line.removesuffix("\r")
        except httpx.HTTPError as exc:
            raise self.stream_failure(exc, "log stream") from None


class AsyncClient(ClientBase):
    """An asynchronous client of the daemon's Platform API (the TUI's), with a token already known."""

    def __init__(self, api_url: str, token: str) -> None:
        super().__init__(api_url, lambda: token)
        # the TUI polls several calls a second: its User-Agent keeps it out of the API's rate limit
        self._http = httpx.AsyncClient(base_url=api_url, timeout=REQUEST_TIMEOUT,
                                       headers={"Accept": ACCEPT, "User-Agent": TUI_USER_AGENT})

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, json: Any = None, range_: str | None = None,
                      text: bool = False) -> Any:
        """One API call: the decoded JSON answer (or the body as text), or ApiError."""
        headers = self.headers(range_)
        try:
            response = await self._http.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise self.failure(exc) from None
        return self.answer(response, method, path, text)

    async def stream_batches(self, url: str) -> AsyncIterator[list[str]]:
        """A log session's logplex_url (it carries its own secret) as batches of lines, one per network read,
        so a flood costs the reader one step per read, not one per line."""
        try:
            async with httpx.AsyncClient(timeout=STREAM_TIMEOUT) as http, http.stream("GET", url) as response:
                async for batch in aline_batches(response):
                    yield batch
        except httpx.HTTPError as exc:
            raise self.stream_failure(exc, "log stream") from None

    async def stream_path_batches(self, path: str, what: str) -> AsyncIterator[list[str]]:
        """An API path that streams text (a running build's output), as `stream_batches` gives it."""
        try:
            async with self._http.stream("GET", path, headers=self.headers(), timeout=STREAM_TIMEOUT) as response:
                async for batch in aline_batches(response):
                    yield batch
        except httpx.HTTPError as exc:
            raise self.stream_failure(exc, what) from None
