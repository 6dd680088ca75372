"""config_vars: Heroku's rules for config vars (names, sizes) and the release description of a change.

Pure and light, so the CLI checks names and words its messages by the same rules the daemon's ledger uses,
without loading the daemon.
"""

from __future__ import annotations

import re

CONFIG_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # used with fullmatch: `$` lets a trailing newline in
# Heroku: "Config var data (the combination of all keys and values) cannot exceed 32kb for each app"
# (devcenter.heroku.com/articles/config-vars, "Config var policy"); counted here in UTF-8 bytes, kb as KiB.
MAX_CONFIG_BYTES = 32 * 1024
# Heroku documents no length limit for a key alone. 255 bytes is the longest file name Linux allows (NAME_MAX),
# and a buildpack's ENV_DIR holds one file per config var: a longer key would break every build of the app.
MAX_CONFIG_KEY_LENGTH = 255


def names(keys: list[str]) -> str:
    return ", ".join(keys)


def config_description(old: dict[str, str], changes: dict[str, str | None]) -> str | None:
    """Heroku's release description for a config change; None when nothing would change."""
    set_keys = [k for k, v in changes.items() if v is not None and old.get(k) != v]
    removed = [k for k, v in changes.items() if v is None and k in old]
    if set_keys and removed:
        return f"Set {names(set_keys)} and remove {names(removed)} config vars"
    if set_keys:
        return f"Set {names(set_keys)} config vars"
    if removed:
        return f"Remove {names(removed)} config vars"
    return None
