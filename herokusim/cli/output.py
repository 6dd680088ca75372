"""CLI room: pure formatters and argument parsers in Heroku's shapes (ages, ps, releases, config, scaling)."""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from herokusim.client import parse_time
from herokusim.config_vars import CONFIG_KEY

HEXAGON = "⬢"
SCALE_ARG = re.compile(r"(?P<type>[-\w]{1,128})(?P<op>[=+-])(?P<qty>\d+)(?::(?P<size>[-\w]+))?", re.ASCII)


class BadArgument(ValueError):
    """A command-line argument the CLI rejects before sending anything."""


# --- time ---------------------------------------------------------------------------------------------------


def timestamp(when: datetime, tz: tzinfo | None = None) -> str:
    """`2026/11/26 17:03:11 +0000`, in the local zone unless tz is given (Heroku prints local time)."""
    return when.astimezone(tz).strftime("%Y/%m/%d %H:%M:%S %z")


def ago(when: datetime, now: datetime) -> str:
    """Heroku's rough age: `(~ 42s ago)`, `(~ 5m ago)`, `(~ 3h ago)`; nothing past 25 hours."""
    elapsed = max(0.0, (now - when).total_seconds())
    if elapsed <= 60:
        return f"(~ {math.floor(elapsed)}s ago)"
    if elapsed <= 60 * 60:
        return f"(~ {math.floor(elapsed / 60 + 0.5)}m ago)"
    if elapsed <= 60 * 60 * 25:
        return f"(~ {math.floor(elapsed / 3600 + 0.5)}h ago)"
    return ""


def since(when: datetime, now: datetime, tz: tzinfo | None = None) -> str:
    """`2026/11/26 17:03:11 +0000 (~ 5m ago)`."""
    return f"{timestamp(when, tz)} {ago(when, now)}".rstrip()


# --- small shapes -------------------------------------------------------------------------------------------


def display_size(size: str) -> str:
    """`standard-1X` -> `Standard-1X`, `performance-m` -> `Performance-M`."""
    return "-".join(part[:1].upper() + part[1:] for part in size.split("-"))


def human_bytes(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def align_object(pairs: list[tuple[str, str]]) -> list[str]:
    """Heroku's styled object: `Key:` padded so every value starts in the same column."""
    if not pairs:
        return []
    width = max(len(key) for key, _ in pairs) + 1
    return [f"{key + ':':<{width}} {value}".rstrip() for key, value in pairs]


def align_rows(rows: list[list[str]]) -> list[str]:
    """Columns separated by two spaces, each padded to its widest cell (the last one is not padded)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


# --- config vars --------------------------------------------------------------------------------------------


def config_lines(config: dict[str, str]) -> list[str]:
    return align_object(sorted(config.items()))


def shell_lines(config: dict[str, str]) -> list[str]:
    return [f"{key}={shlex.quote(value)}" for key, value in sorted(config.items())]


def parse_config_args(args: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`K=V` arguments of config:set, validated all at once so nothing is sent when one is wrong."""
    if not args:
        raise BadArgument("Usage: herokusim config:set KEY1=VALUE1 [KEY2=VALUE2 ...]: "
                          "must specify KEY and VALUE to set.")
    changes: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise BadArgument(f"{arg} is invalid. Must be in the format FOO=bar.")
        if not CONFIG_KEY.fullmatch(key):
            raise BadArgument(f"{key or arg} is not a valid config var name: use letters, digits and _, "
                              "not starting with a digit.")
        changes[key] = value
    return changes


# --- releases -----------------------------------------------------------------------------------------------


RELEASE_PHASE_STATUS = {"failed": "release command failed", "pending": "release command executing"}


def release_description(release: dict[str, Any], bracketed: bool = False) -> str:
    """The description with its release phase's status: after it in `releases`, in brackets in
    `releases:info`, as Heroku's CLI prints them."""
    description = release.get("description") or ""
    status = RELEASE_PHASE_STATUS.get(release.get("status") or "")
    if status is None:
        return description
    return f"{description} ({status})" if bracketed else f"{description} {status}".strip()


def release_row(release: dict[str, Any], now: datetime, tz: tzinfo | None = None) -> list[str]:
    return [
        f"v{release['version']}",
        release_description(release),
        (release.get("user") or {}).get("email", ""),
        since(parse_time(release["created_at"]), now, tz),
    ]


def version_ref(value: str) -> str:
    """`v3` -> `3`; ids pass through unchanged."""
    return value[1:] if re.fullmatch(r"[vV][0-9]+", value) else value


# --- dynos and formation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DynoGroup:
    title: str  # `web (Standard-1X): python app.py`
    lines: tuple[str, ...]  # `web.1: up 2026/11/26 17:03:11 +0000 (~ 5m ago)`

    @property
    def heading(self) -> str:
        return f"{self.title} ({len(self.lines)})"


def _dyno_order(dyno: dict[str, Any]) -> tuple[str, int, str]:
    _, _, number = dyno["name"].rpartition(".")
    return (dyno["type"], int(number) if number.isdigit() else 0, dyno["name"])


def group_dynos(dynos: list[dict[str, Any]], now: datetime, tz: tzinfo | None = None) -> list[DynoGroup]:
    """Heroku's `ps` grouping: one group per type, size and command; one-off `run` dynos together."""
    groups: dict[str, list[str]] = {}
    for dyno in sorted(dynos, key=_dyno_order):
        size = display_size(dyno.get("size") or "standard-1X")
        age = since(parse_time(dyno["updated_at"]), now, tz)
        if dyno["type"] == "run":
            key = "run: one-off processes"
            line = f"{dyno['name']} ({size}): {dyno['state']} {age}: {dyno.get('command', '')}"
        else:
            key = f"{dyno['type']} ({size}): {dyno.get('command', '')}"
            line = f"{dyno['name']}: {dyno['state']} {age}"
        groups.setdefault(key, []).append(line)
    return [DynoGroup(title, tuple(lines)) for title, lines in groups.items()]


def _truncate(text: str) -> str:
    """A command as Heroku's extended table shows it: at most 35 characters."""
    return text if len(text) <= 35 else text[:34] + "…"


EXTENDED_COLUMNS = ["ID", "Process", "State", "Release", "Command", "Size", "Restarting"]


def _restarting(dyno: dict[str, Any], tz: tzinfo | None) -> str:
    """herokusim's own column: when a crashed dyno in its cool-off restarts, and how long the cool-off is."""
    if not dyno.get("restart_at"):
        return ""
    restart = parse_time(dyno["restart_at"])
    cooloff = round((restart - parse_time(dyno["updated_at"])).total_seconds() / 60)
    return f"{timestamp(restart, tz)} (cool-off {cooloff}m)"


def extended_rows(dynos: list[dict[str, Any]], now: datetime, tz: tzinfo | None = None) -> list[list[str]]:
    """`ps --extended`: Heroku's table (the columns herokusim has), a heading row first; the restart time and
    cool-off of a crashed dyno are shown here, not in `ps`'s default lines."""
    return [EXTENDED_COLUMNS, *(
        [dyno["id"], dyno["name"], f"{dyno['state']} {ago(parse_time(dyno['updated_at']), now)}".rstrip(),
         str((dyno.get("release") or {}).get("version", "")), _truncate(dyno.get("command") or ""),
         display_size(dyno.get("size") or "standard-1X"), _restarting(dyno, tz)]
        for dyno in sorted(dynos, key=_dyno_order))]


def restart_message(app: str, dyno: str | None = None, kind: str | None = None) -> str:
    """Heroku's `Restarting all web dynos on ⬢ demo` (a type), `Restarting dyno web.1 on ⬢ demo` (a dyno),
    `Restarting all dynos on ⬢ demo` (neither)."""
    what = f"all {kind} dynos" if kind else (f"dyno {dyno}" if dyno else "all dynos")
    return f"Restarting {what} on {HEXAGON} {app}"


def stop_message(app: str, dyno: str | None = None, kind: str | None = None) -> str:
    """Heroku's `Stopping all web dynos on ⬢ demo` (a type) or `Stopping dyno web.2 on ⬢ demo`."""
    return f"Stopping {f'all {kind} dynos' if kind else f'dyno {dyno}'} on {HEXAGON} {app}"


def dyno_counts(dynos: list[dict[str, Any]]) -> str:
    """`web: 2, worker: 1` for apps:info."""
    counts: dict[str, int] = {}
    for dyno in dynos:
        counts[dyno["type"]] = counts.get(dyno["type"], 0) + 1
    return ", ".join(f"{kind}: {n}" for kind, n in sorted(counts.items()))


@dataclass(frozen=True)
class ScaleChange:
    type: str
    quantity: int
    relative: bool  # `web+1` / `web-1`: quantity is a signed delta
    size: str | None = None


def parse_scale_args(args: tuple[str, ...] | list[str]) -> list[ScaleChange]:
    """`web=2`, `web+1`, `web-1`, `web=2:standard-2X`; every argument is checked before anything is sent."""
    changes: list[ScaleChange] = []
    for arg in args:
        match = SCALE_ARG.fullmatch(arg)
        if not match:
            raise BadArgument(f"Invalid argument {arg!r}: use TYPE=N, TYPE+N or TYPE-N, optionally with "
                              ":SIZE (e.g. web=2:standard-2X).")
        kind, op, qty = match["type"], match["op"], int(match["qty"])
        if any(change.type == kind for change in changes):
            raise BadArgument(f"{kind} is given more than once.")
        changes.append(ScaleChange(kind, -qty if op == "-" else qty, op != "=", match["size"]))
    return changes


def scale_updates(changes: list[ScaleChange]) -> list[dict[str, Any]]:
    """The formation PATCH's `updates`. A relative change goes as Heroku's CLI sends it, `"+1"` / `"-1"`, and the
    API applies it to the formation as it is then: one read here first would lose concurrent changes."""
    updates: list[dict[str, Any]] = []
    for change in changes:
        quantity: int | str = f"{change.quantity:+d}" if change.relative else change.quantity
        update: dict[str, Any] = {"type": change.type, "quantity": quantity}
        if change.size:
            update["size"] = change.size
        updates.append(update)
    return updates


def scale_summary(formation: list[dict[str, Any]], types: list[str]) -> str:
    """`web at 2:Standard-1X, worker at 1:Standard-1X`, in the order the types were given."""
    by_type = {entry["type"]: entry for entry in formation}
    return ", ".join(
        f"{kind} at {by_type[kind]['quantity']}:{display_size(by_type[kind]['size'])}"
        for kind in types if kind in by_type
    )


def formation_summary(formation: list[dict[str, Any]]) -> str:
    """`web=1:Standard-1X worker=0:Standard-1X`, what `ps:scale` with no arguments prints."""
    return " ".join(sorted(f"{e['type']}={e['quantity']}:{display_size(e['size'])}" for e in formation))
