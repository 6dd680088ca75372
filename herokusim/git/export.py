"""Commit export: a pushed commit's tree as plain files (the build dir), without the git CLI."""

from __future__ import annotations

import tempfile
from pathlib import Path

from dulwich.index import build_index_from_tree
from dulwich.objects import Commit
from dulwich.repo import Repo


def export_commit(repo_path: Path, sha: str, dest: Path) -> None:
    """Write the commit's tree into dest: exec bits and symlinks kept, no .git."""
    dest.mkdir(parents=True, exist_ok=True)
    with Repo(repo_path) as repo:
        commit = repo[sha.encode()]
        if not isinstance(commit, Commit):
            raise TypeError(f"{sha} is a {commit.type_name.decode()}, not a commit, in {repo_path}")
        # The index is a by-product of checking out; keep it out of the exported tree.
        with tempfile.TemporaryDirectory(prefix="herokusim-index-") as tmp:
            build_index_from_tree(str(dest), str(Path(tmp) / "index"), repo.object_store, commit.tree)
