"""labs/catalogue: every lab, in LABS.md's order, found as the `LAB` of each module in labs/content/."""

from __future__ import annotations

import importlib
import pkgutil

from herokusim.labs import content
from herokusim.labs.lab import Lab


def labs() -> list[Lab]:
    found = []
    for module in pkgutil.iter_modules(content.__path__):
        if module.name.startswith("lab"):
            lab = getattr(importlib.import_module(f"{content.__name__}.{module.name}"), "LAB", None)
            if isinstance(lab, Lab):
                found.append(lab)
    return sorted(found, key=lambda lab: lab.number)


def lab(number: int) -> Lab | None:
    return next((lab for lab in labs() if lab.number == number), None)
