"""builds/builtin: where the built-in buildpacks are, from an installed wheel or from a source checkout.

The repo keeps them at its top level (buildpacks/); a wheel carries them inside the package as
herokusim/buildpacks/ (setup.py maps one to the other), with their scripts' executable bits.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def builtin_buildpacks_dir() -> Path:
    """The directory holding one directory per built-in buildpack (`python/bin/detect`, ...)."""
    packaged = resources.files("herokusim") / "buildpacks"
    if packaged.is_dir():  # installed from a wheel (or an sdist)
        return Path(str(packaged)).resolve()
    # a source checkout, run in place or installed editable: the package dir has no copy of them
    return Path(__file__).resolve().parents[2] / "buildpacks"
