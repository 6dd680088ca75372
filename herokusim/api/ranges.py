"""api/ranges: the Platform API's `Range` header for lists, read as real clients write it.

Heroku's grammar is `<field> [<first>]..[<last>][; max=<n>][, order=<asc|desc>]`, e.g. `id ..; max=10` or
`name ..; order=desc, max=10`; a bound written `]first` or `last[` is exclusive. Clients vary it: a trailing
`;` (`id ..; max=1000;`), spaces anywhere, options in any order and separated by `;` or `,`, `max` without
`order` and the reverse. All of that is read; anything else (an unknown field or option, `max=0`, no `..`)
is a 400 saying what is wrong. Bounds are positions in the list's order: with `order=desc`, `first..`
selects `first` and what sorts below it.

A list cut by `max` is answered 206 with `Next-Range: <field> ]<last one sent>..[<last>]; max=<n>, order=<o>`;
following it pages through the whole list once, without loss or repeats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from herokusim.errors import PlatformError
from herokusim.store.sqlite import sqlite_integer

DEFAULT_MAX = 200  # a Range without max (Heroku's default page)
LIMIT = 1000  # the largest page, and a list asked for without a Range

_VALUE = r"(?:(?!\.\.)[^\s\[\]])*?"  # a bound: no space, bracket or `..` in it
_SPEC = re.compile(rf"\s*(?P<field>[A-Za-z_]\w*)\s*(?P<first_open>\]?)\s*(?P<first>{_VALUE})\s*\.\.\s*"
                   rf"(?P<last>{_VALUE})\s*(?P<last_open>\[?)\s*", re.ASCII)


class BadRange(PlatformError):
    status = 400
    id = "bad_request"


@dataclass(frozen=True)
class ListRange:
    field: str
    first: str | None = None
    last: str | None = None
    first_exclusive: bool = False
    last_exclusive: bool = False
    order: str = "asc"
    max: int = LIMIT
    sort: bool = True  # False: the items are already in the order to answer with

    def next_range(self, after: object) -> str:
        """The Range of the page after the one that ended with the value `after`."""
        last = "" if self.last is None else self.last + ("[" if self.last_exclusive else "")
        return f"{self.field} ]{after}..{last}; max={self.max}, order={self.order}"


def _printable(text: str) -> bool:
    return text.isascii() and text.isprintable()


def parse_range(header: str | None, default_field: str, fields: tuple[str, ...]) -> ListRange:
    """The range a `Range` header asks for (the whole list, in `default_field` order, when there is none)."""
    if header is None or not header.strip():
        return ListRange(default_field)
    if not _printable(header):
        raise BadRange("Range: the header must be printable ASCII, like `id ..; max=200`.")
    spec, *options = re.split(r"[;,]", header)
    match = _SPEC.fullmatch(spec)
    if match is None and ".." not in spec:
        raise BadRange(f"Range: {spec.strip()!r} has no `..`; write `<field> [first]..[last]`, like `id ..`.")
    if match is None:
        raise BadRange(f"Range: cannot read {spec.strip()!r}; write `<field> [first]..[last]`, like `id ..`.")
    field = match["field"]
    if field not in fields:
        raise BadRange(f"Range: cannot sort by {field!r}; use one of {', '.join(fields)}.")
    order, maximum = "asc", DEFAULT_MAX
    for option in filter(None, (o.strip() for o in options)):
        key, equals, value = (part.strip() for part in option.partition("="))
        if not equals:
            raise BadRange(f"Range: invalid option {option!r}; use max=<1-{LIMIT}> and order=asc|desc.")
        if key == "order" and value.lower() in ("asc", "desc"):
            order = value.lower()
        elif key == "max" and (number := sqlite_integer(value)) is not None and number > 0:
            maximum = min(number, LIMIT)
        elif key in ("max", "order"):
            expected = f"a number from 1 to {LIMIT}" if key == "max" else "asc or desc"
            raise BadRange(f"Range: invalid option {option!r}; {key} must be {expected}.")
        else:
            raise BadRange(f"Range: unknown option {key!r}; use max=<1-{LIMIT}> and order=asc|desc.")
    return ListRange(field, match["first"] or None, match["last"] or None, bool(match["first_open"]),
                     bool(match["last_open"]), order, maximum)


def _key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, str(value))


def _bound(rng: ListRange, text: str, numeric: bool) -> tuple[int, Any]:
    if not numeric:
        return _key(text)
    number = sqlite_integer(text)
    if number is None:
        raise BadRange(f"Range: {rng.field} takes a whole number, not {text!r}.")
    return _key(number)


def apply_range(items: list[dict[str, Any]], rng: ListRange) -> tuple[list[dict[str, Any]], str | None]:
    """The page of `items` the range selects, and the Next-Range header when more remain."""
    descending = rng.order == "desc"
    ordered = sorted(items, key=lambda item: _key(item.get(rng.field)), reverse=descending) if rng.sort else items
    numeric = any(_key(item.get(rng.field))[0] == 0 for item in items)

    def before(a: tuple[int, Any], b: tuple[int, Any]) -> bool:  # a comes before b in the list's order
        return a > b if descending else a < b

    if rng.first is not None:
        first = _bound(rng, rng.first, numeric)
        ordered = [i for i in ordered if before(first, k := _key(i.get(rng.field)))
                   or (k == first and not rng.first_exclusive)]
    if rng.last is not None:
        last = _bound(rng, rng.last, numeric)
        ordered = [i for i in ordered if before(k := _key(i.get(rng.field)), last)
                   or (k == last and not rng.last_exclusive)]
    page, rest = ordered[: rng.max], ordered[rng.max :]
    if not rest:
        return page, None
    # Next-Range starts after the page's last value: items sharing that value with the first of the rest go
    # to the next page whole, unless they fill this one (a field Heroku ranges by is unique, or nearly).
    cut = len(page)
    tied = _key(rest[0].get(rng.field))
    while cut > 0 and _key(page[cut - 1].get(rng.field)) == tied:
        cut -= 1
    if cut:
        page = page[:cut]
    return page, rng.next_range(page[-1].get(rng.field))
