"""api/ranges: the Platform API's `Range` header for lists (`id ..; order=desc, max=200`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from herokusim.errors import PlatformError
from herokusim.store.sqlite import sqlite_integer

DEFAULT_MAX = 200
LIMIT = 1000


class BadRange(PlatformError):
    status = 400
    id = "bad_request"


@dataclass(frozen=True)
class ListRange:
    field: str
    start: str | None
    order: str
    max: int

    def header(self, start: object) -> str:
        return f"{self.field} {start}..; order={self.order}, max={self.max}"


def parse_range(header: str | None, default_field: str, fields: tuple[str, ...]) -> ListRange:
    if not header:
        return ListRange(default_field, None, "asc", LIMIT)
    spec, _, options = header.partition(";")
    field, _, bounds = spec.strip().partition(" ")
    if field not in fields:
        raise BadRange(f"Range: cannot sort by {field!r}; use one of {', '.join(fields)}.")
    start = bounds.strip().removesuffix("..").strip() or None
    order, maximum = "asc", DEFAULT_MAX
    for option in filter(None, (o.strip() for o in options.split(","))):
        key, _, value = option.partition("=")
        if key == "order" and value in ("asc", "desc"):
            order = value
        elif key == "max" and (number := sqlite_integer(value)) is not None and 0 < number:
            maximum = min(number, LIMIT)
        else:
            raise BadRange(f"Range: invalid option {option!r}.")
    return ListRange(field, start, order, maximum)


def _key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def apply_range(items: list[dict[str, Any]], rng: ListRange) -> tuple[list[dict[str, Any]], str | None]:
    """The page of `items` the range selects, and the Next-Range header when more remain."""
    ordered = sorted(items, key=lambda item: _key(item.get(rng.field)), reverse=rng.order == "desc")
    if rng.start is not None:
        number = sqlite_integer(rng.start)
        start: int | str = rng.start if number is None else number
        if rng.order == "asc":
            ordered = [i for i in ordered if _key(i.get(rng.field)) >= _key(start)]
        else:
            ordered = [i for i in ordered if _key(i.get(rng.field)) <= _key(start)]
    page, rest = ordered[: rng.max], ordered[rng.max :]
    return page, (rng.header(rest[0].get(rng.field)) if rest else None)
