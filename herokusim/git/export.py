"""Commit export: a pushed commit's tree as plain files (the build dir).

git's own checkout writes it, blobs streamed to disk (dulwich holds each blob whole in the daemon), exec
bits and symlinks kept, and the index it needs kept outside the tree and the repo.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from herokusim.git.server import git_command, git_env


class ExportError(Exception):
    """The commit cannot be exported; str(e) is git's reason."""


def export_commit(repo_path: Path, sha: str, dest: Path) -> None:
    """Write the commit's tree into dest: exec bits and symlinks kept, no .git."""
    dest.mkdir(parents=True, exist_ok=True)
    # Beside dest, not in /tmp: what a killed build leaves stays where recovery looks.
    with tempfile.TemporaryDirectory(prefix="herokusim-index-", dir=dest.parent) as tmp:
        env = {**git_env(), "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        for args in (["read-tree", f"{sha}^{{commit}}"], ["checkout-index", "--all"]):
            argv = git_command(repo_path, f"--work-tree={dest}", "-c", "core.symlinks=true", *args)
            done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0:
                lines = done.stderr.strip().splitlines()
                raise ExportError(lines[-1] if lines else f"git {args[0]} exited with status {done.returncode}")
