"""Build room: the slug compiler, the Procfile parser and .slugignore."""

from herokusim.build.compiler import BuildError, SlugResult, compile_slug
from herokusim.build.procfile import ProcfileError, parse_procfile

__all__ = ["BuildError", "ProcfileError", "SlugResult", "compile_slug", "parse_procfile"]
