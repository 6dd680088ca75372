"""TUI room: pure formatting — ages, dyno states, bars, sparklines, log lines — so widgets stay thin."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.highlighter import Highlighter
from rich.text import Text

from herokusim.client import parse_time

STATE_STYLES = {"starting": "yellow", "up": "green", "crashed": "bold red", "down": "dim", "complete": "blue",
                "idle": "dim", "provisioned": "green", "provisioning": "yellow", "deprovisioned": "dim"}
SPARK = "▁▂▃▄▅▆▇█"
LOG_LINE = re.compile(r"^(\S+) ([\w-]+)\[([^\]]*)\]: ?(.*)$", re.DOTALL)
DYNO_COLOURS = ("cyan", "bright_green", "bright_blue", "bright_cyan", "green", "blue", "bright_white")


def age(when: str | datetime | None, now: datetime) -> str:
    """`42s`, `5m`, `3h`, `2d` — short enough for a table cell."""
    moment = parse_time(when) if isinstance(when, str) or when is None else when
    if moment is None:
        return "—"
    seconds = int(max(0.0, (now - moment).total_seconds()))
    return duration(seconds)


def until(when: str | None, now: datetime) -> str:
    """`5m` to a future moment (a countdown column's title says to what); `now` if it has passed; `—` for
    none."""
    moment = parse_time(when)
    if moment is None:
        return "—"
    seconds = int((moment - now).total_seconds())
    return "now" if seconds <= 0 else duration(seconds)


def duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600}h"


def state_text(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))


def memory(dyno: dict[str, Any]) -> str:
    used, quota = dyno.get("memory_mb"), dyno.get("memory_quota_mb")
    if used is None:
        return "—"
    return f"{used:.0f}/{quota:.0f}MB" if quota else f"{used:.0f}MB"


def bar(value: float, most: float, width: int) -> str:
    """A horizontal bar of `width` cells, full at `most`."""
    if width <= 0:
        return ""
    filled = 0 if most <= 0 else round(min(1.0, max(0.0, value / most)) * width)
    return "█" * filled + "·" * (width - filled)


def sparkline(values: list[float], width: int) -> str:
    """The last `width` samples as block characters scaled to their own maximum."""
    tail = values[-width:] if width > 0 else []
    top = max(tail, default=0.0)
    if top <= 0:
        return SPARK[0] * len(tail)
    return "".join(SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))] for v in tail)


def dyno_order(name: str) -> tuple[str, int, str]:
    kind, _, number = name.rpartition(".")
    return (kind, int(number) if number.isdigit() else 0, name)


def process_type_of(process: str) -> str:
    return process.rpartition(".")[0] or process


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One parsed line of the merged stream."""

    time: str
    source: str
    process: str
    message: str
    raw: str

    @classmethod
    def parse(cls, raw: str) -> LogEntry:
        match = LOG_LINE.match(raw)
        if match is None:
            return cls("", "", "", raw, raw)
        stamp, source, process, message = match.groups()
        return cls(stamp, source, process, message, raw)

    def line(self, wide: bool) -> str:
        """`12:00:01 heroku[router]: at=info ...`; milliseconds too when there is room."""
        if not self.process:
            return self.raw
        stamp = self.time[11:23] if wide else self.time[11:19]
        return f"{stamp} {self.source}[{self.process}]: {self.message}"


def process_style(source: str, process: str) -> str:
    """One colour per source: the router, the platform (api, builds), each dyno its own."""
    if process == "router":
        return "magenta"
    if process in ("api", "slug-compiler", "build"):
        return "yellow"
    if source == "heroku":
        return "bright_magenta"
    return DYNO_COLOURS[zlib.crc32(process.encode()) % len(DYNO_COLOURS)]


SHOWN_LINE = re.compile(r"^(\S+) ([\w-]+)\[([^\]]*)\]:")


class LogHighlighter(Highlighter):
    """Colours a shown log line when it is drawn (only visible lines are), so writing stays cheap."""

    def highlight(self, text: Text) -> None:
        plain = text.plain
        match = SHOWN_LINE.match(plain)
        if match is None:
            return
        text.stylize("dim", 0, match.end(1))
        text.stylize(process_style(match.group(2), match.group(3)), match.start(2), match.end())
        if "code=H" in plain or "Error R" in plain:
            text.stylize("bold red", match.end())


@dataclass(frozen=True, slots=True)
class LogFilter:
    """What the logs pane shows: one of source (app/heroku), process type or dyno, and a search text."""

    where: str = ""
    search: str = ""

    def matches(self, entry: LogEntry) -> bool:
        if self.search and self.search.lower() not in entry.raw.lower():
            return False
        where = self.where
        if not where:
            return True
        if where in ("app", "heroku"):
            return entry.source == where
        if "." in where:
            return entry.process == where
        return entry.process == where or process_type_of(entry.process) == where

    def describe(self) -> str:
        parts = []
        if self.where:
            parts.append(f"only {self.where}")
        if self.search:
            parts.append(f"/{self.search}")
        return " ".join(parts) or "all sources"


def config_diff(before: dict[str, str], after: dict[str, str]) -> list[Text]:
    """Added (+), removed (-) and changed (~) config vars between two releases."""
    lines: list[Text] = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            lines.append(Text(f"+ {key}={after[key]}", style="green"))
        elif key not in after:
            lines.append(Text(f"- {key}", style="red"))
        elif before[key] != after[key]:
            lines.append(Text(f"~ {key}: {before[key]} → {after[key]}", style="yellow"))
    return lines or [Text("(no config changes)", style="dim")]


def dynos_summary(dynos: list[dict[str, Any]]) -> str:
    """`web 2/3 worker 1/1`: dynos up of those that exist, per process type."""
    counts: dict[str, list[int]] = {}
    for dyno in dynos:
        up_total = counts.setdefault(dyno.get("type", "?"), [0, 0])
        up_total[1] += 1
        up_total[0] += dyno.get("state") == "up"
    return " ".join(f"{kind} {up}/{total}" for kind, (up, total) in sorted(counts.items())) or "—"


UNAVAILABLE = "unavailable"


def pg_usage(pg_info: dict[str, Any]) -> tuple[str, str]:
    """(connections, size) from pg:info's lines (`GET .../pg-info`): `3/20` and `7.2 MB / 1 GB (0.71%)` as
    Heroku prints them (an essential plan's ` (In compliance)` left out; ` (Over limit)` kept); `unavailable`
    for a line the answer lacks (a server that is not running has neither)."""
    lines = {line.get("name"): line.get("values") or [] for line in pg_info.get("info") or []}
    connections, size = lines.get("Connections"), lines.get("Data Size")
    return (str(connections[0]) if connections else UNAVAILABLE,
            str(size[0]).removesuffix(" (In compliance)") if size else UNAVAILABLE)
