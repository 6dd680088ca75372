"""Git room: the smart-HTTP git server apps are pushed to, and commit export for builds."""

from herokusim.git.export import ExportError, export_commit
from herokusim.git.server import REJECTED, GitServer, PushEvent, PushHandler

__all__ = ["REJECTED", "ExportError", "GitServer", "PushEvent", "PushHandler", "export_commit"]
