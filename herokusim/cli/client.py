"""CLI room: the Platform API client — the one place that turns HTTP and connection failures into errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from herokusim.config import Settings

ACCEPT = "application/vnd.heroku+json; version=3"
TOKEN_ENV = "HEROKUSIM_API_KEY"
REQUEST_TIMEOUT = 30.0  # seconds; the daemon is on loopback, so only a stuck daemon takes this long
STREAM_CONNECT_TIMEOUT = 10.0  # seconds; a log stream may then stay silent for as long as it likes


class ClientError(Exception):
    """Something the CLI reports in one line and exits 1 for."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DaemonNotRunning(ClientError):
    def __init__(self, api_url: str) -> None:
        super().__init__(f"herokusim: the daemon is not running at {api_url}; start it with `herokusim up`")


class ApiError(ClientError):
    """A non-2xx answer; message is the API's own `message`."""

    def __init__(self, status: int, error_id: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.id = error_id


def load_token(settings: Settings) -> str:
    """The API token: HEROKUSIM_API_KEY if set, else the file the daemon writes on its first start."""
    token = os.environ.get(TOKEN_ENV)
    if token:
        return token.strip()
    try:
        return settings.token_path.read_text().strip()
    except FileNotFoundError:
        raise ClientError(f"herokusim has never run with HEROKUSIM_HOME={settings.home} (no token there); "
                          "start it with `herokusim up`") from None
    except OSError as exc:
        raise ClientError(f"Cannot read the API token at {settings.token_path}: {exc.strerror}.") from None


def app_path(app: str, *rest: str) -> str:
    """`/apps/demo/releases/3`, every segment escaped."""
    return "/".join(["/apps", *(quote(part, safe="") for part in (app, *rest))])


def _api_error(response: httpx.Response) -> ApiError:
    error_id, message = "", ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error_id = str(body.get("id") or "")
        message = str(body.get("message") or "")
    fallback = f"{response.status_code} {response.reason_phrase}"
    return ApiError(response.status_code, error_id, message or fallback)


class ApiClient:
    """A blocking client of the daemon's Platform API; the token is read on the first request."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._http = httpx.Client(base_url=settings.api_url, timeout=REQUEST_TIMEOUT,
                                  headers={"Accept": ACCEPT})
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, json: Any = None, range_: str | None = None) -> Any:
        if self._token is None:
            self._token = load_token(self.settings)
        headers = {"Authorization": f"Bearer {self._token}"}
        if range_:
            headers["Range"] = range_
        try:
            response = self._http.request(method, path, json=json, headers=headers)
        except httpx.ConnectError:
            raise DaemonNotRunning(self.settings.api_url) from None
        except httpx.TimeoutException:
            raise ClientError(f"The daemon at {self.settings.api_url} did not answer within "
                              f"{REQUEST_TIMEOUT:.0f}s.") from None
        except httpx.HTTPError as exc:
            raise ClientError(f"Lost the connection to the daemon at {self.settings.api_url}: "
                              f"{exc}") from None
        if not response.is_success:
            raise _api_error(response)
        return response.json() if response.content else None

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
        timeout = httpx.Timeout(STREAM_CONNECT_TIMEOUT, read=None)
        try:
            with httpx.stream("GET", url, timeout=timeout) as response:
                if not response.is_success:
                    response.read()
                    raise _api_error(response)
                buffer = ""
                for chunk in response.iter_text():
                    buffer += chunk
                    *lines, buffer = buffer.split("\n")
                    for line in lines:
                        yield line.removesuffix("\r")
                if buffer:
                    yield buffer
        except httpx.ConnectError:
            raise DaemonNotRunning(self.settings.api_url) from None
        except httpx.HTTPError as exc:
            raise ClientError(f"The log stream from {self.settings.api_url} broke off: {exc}") from None
