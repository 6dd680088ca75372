"""CLI room: the `herokusim` command — Heroku's command names and output over the daemon's Platform API.

This module only assembles the command: the group and what commands share are in `cli/base.py`, each family
of commands in its own module, which registers its commands on the group when imported.
"""

from __future__ import annotations

from herokusim.cli import (  # noqa: F401  (imported to register their commands)
    addons_cmds,
    apps_cmds,
    buildpacks_cmds,
    builds_cmds,
    config_cmds,
    daemon_cmds,
    doctor_cmds,
    dynos_cmds,
    git_cmds,
    labs_cmds,
    local_cmds,
    logs_cmds,
    pg_cmds,
    pgbackups_cmds,
    pgfollow_cmds,
    redis_cmds,
    releases_cmds,
    router_cmds,
    scheduler_cmds,
    setup_cmds,
    stack_cmds,
    tui_cmd,
)
from herokusim.cli.base import main

__all__ = ["main"]
