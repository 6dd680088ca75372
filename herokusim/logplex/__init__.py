"""logplex/: per-app log channels — a 1500-line ring per app, live tails with filters.

Every part of the platform writes `LogLine`s here (logplex/hub); the CLI and the TUI read them through api/.
What a line is and how `logs` selects lines: logplex/lines.
"""

from herokusim.logplex.hub import TAIL_QUEUE, Logplex
from herokusim.logplex.lines import MAX_LINE_BYTES, LogFilter, LogLine, split_message

__all__ = ["MAX_LINE_BYTES", "TAIL_QUEUE", "LogFilter", "LogLine", "Logplex", "split_message"]
