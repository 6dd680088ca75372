"""Procfile: the app's process types, one `type: command` per line."""

from __future__ import annotations

import re

PROCESS_TYPE = re.compile(r"[-\w]{1,128}", re.ASCII)  # ASCII: it names dynos, env vars and containers
_LINE = re.compile(r"(?P<type>[^:\s]+):\s*(?P<command>\S.*?)\s*")


class ProcfileError(ValueError):
    """A Procfile line is not `type: command`; the message names the line."""


def parse_procfile(text: str) -> dict[str, str]:
    """Process types in file order; blank lines and `#` comments are skipped; a later type wins."""
    types: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None or not PROCESS_TYPE.fullmatch(match["type"]):
            raise ProcfileError(f'Procfile line {number} is not "type: command": "{line}"')
        types[match["type"]] = match["command"]
    return types
