"""Only what pyproject.toml cannot say: the package list, so it can add the built-in buildpacks.

The repo keeps them at the top level (buildpacks/); the wheel carries them inside the package as
herokusim/buildpacks/, where herokusim.builds.builtin finds them. pyproject's `packages.find` cannot add a
package that lives outside its directory, so the list is found here and the mapping added to it.
"""

from setuptools import find_namespace_packages, setup

# Every directory under buildpacks/ is listed too (python/bin, python/lib): setuptools warns about a data
# directory that Python could import as a package but that the list leaves out.
BUILDPACKS = ["herokusim.buildpacks", *(f"herokusim.buildpacks.{p}" for p in find_namespace_packages("buildpacks"))]

setup(
    packages=[*find_namespace_packages(include=["herokusim*", "tui*"]), *BUILDPACKS],
    package_dir={"herokusim.buildpacks": "buildpacks"},
)
