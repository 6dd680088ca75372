"""builds/: the slug compiler, the Procfile parser, .slugignore, safefs, through which every app file
herokusim reads is read without leaving the app's tree, and where the built-in buildpacks are (builtin)."""

from herokusim.builds.compiler import BuildError, SlugResult, compile_slug
from herokusim.builds.procfile import ProcfileError, parse_procfile

__all__ = ["BuildError", "ProcfileError", "SlugResult", "compile_slug", "parse_procfile"]
