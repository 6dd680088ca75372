"""logplex/lines: what a log line is (time, source, process, message, rendered as Heroku prints it), how
`logs` selects lines, and how an overlong message is split."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

MAX_LINE_BYTES = 10_000  # a longer line is split into pieces of this size


@dataclass(frozen=True, slots=True)
class LogLine:
    time: datetime
    source: str  # "app" or "heroku"
    process: str  # "web.1", "api", "router", "slug-compiler"
    message: str

    def render(self) -> str:
        return f"{self.time.isoformat(timespec='microseconds')} {self.source}[{self.process}]: {self.message}"


@dataclass(frozen=True, slots=True)
class LogFilter:
    """What `logs` selects: `--source app|heroku`, `--dyno web.1`, `--ps web`."""

    source: str | None = None
    dyno: str | None = None
    ps: str | None = None

    def matches(self, line: LogLine) -> bool:
        if self.source and line.source != self.source:
            return False
        if self.dyno and line.process != self.dyno:
            return False
        return not (self.ps and line.process.split(".", 1)[0] != self.ps)


def split_message(message: str) -> list[str]:
    data = message.encode("utf-8", "replace")
    if len(data) <= MAX_LINE_BYTES:
        return [message]
    return [
        data[i : i + MAX_LINE_BYTES].decode("utf-8", "replace") for i in range(0, len(data), MAX_LINE_BYTES)
    ]
