"""Benchmark (not a test): the daemon's peak memory while it receives and builds a large `git push`.

Two pushes of incompressible data (os.urandom) to new apps: one object of --size MB, then --files objects
adding up to the same size. Each is a fresh daemon, so its peak resident set (VmHWM in /proc) covers
start, receive, export, compile and compress of that one push; the figure is the peak's growth over the
daemon's peak before the push. tests/test_push_integrity.py asserts the property (growth < a quarter of
the push); this records the figures.

    python3 bench/push_memory.py [--size 200] [--files 20]

Writes the figures to bench/results.md (its `push-memory` section) with the machine description.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from benchlib import commit_all, machine, start_daemon, write_section


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def measure(size_mib: int, files: int) -> tuple[float, float, float]:
    """(peak before the push, peak after it, push seconds) for one push of `files` random files."""
    daemon = start_daemon()
    try:
        repo = daemon.checkout("python-hello", "big")
        for i in range(files):
            (repo / f"blob{i}.bin").write_bytes(os.urandom(size_mib * 2**20 // files))
        commit_all(repo, daemon.env)
        daemon.create_app("big", repo)
        before = peak_rss_mib(daemon.proc.pid)
        start = time.perf_counter()
        daemon.push(repo)
        seconds = time.perf_counter() - start
        return before, peak_rss_mib(daemon.proc.pid), seconds
    finally:
        daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200, help="MB pushed")
    parser.add_argument("--files", type=int, default=20, help="files of the second push")
    args = parser.parse_args()

    rows = []
    for files in (1, args.files):
        before, after, seconds = measure(args.size, files)
        print(f"{files} file(s): peak {before:.0f} -> {after:.0f} MB, push {seconds:.1f} s", flush=True)
        rows.append(f"| {args.size} MB in {files} file{'s' if files > 1 else ''} | {before:.0f} MB | {after:.0f} MB "
                    f"| {after - before:+.0f} MB | {seconds:.1f} s |")

    write_section("push-memory", [
        "## Large push: the daemon's peak memory",
        "",
        (f"Measured {time.strftime('%Y-%m-%d')} by `python3 bench/push_memory.py --size {args.size} "
         f"--files {args.files}` on {machine()}."),
        ("A fresh daemon per push (process runtime), incompressible data; peak = VmHWM of the daemon's process "
         "(git index-pack and git checkout-index run beside it as subprocesses and stream big blobs)."),
        "",
        "| push | peak before | peak after | growth | `git push` time (receive, build, release) |",
        "|---|---|---|---|---|",
        *rows,
        "",
        ("Before streaming (dulwich's add_thin_pack and blob export) a 150 MB push of one file peaked the daemon "
         "at 827 MB (issue 9: 815 MB for 200 MB). The many-file push's time is mostly the git client's own "
         "delta search among same-sized blobs: pushing 20 random 10 MB files to a local bare repo took 42 s "
         "on the same machine."),
    ])


if __name__ == "__main__":
    main()
