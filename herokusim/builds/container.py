"""builds/container: buildpack scripts run in a build container from the stack image (the Docker runtime).

One container per build, with the build, cache, env and buildpack dirs mounted at the same paths as on
the host (the buildpacks read-only), so the compiler's paths hold inside too; each script is a `docker exec`
in it, a subprocess the compiler streams and times out like a local one. The container is killed once the
scripts are done, before the compiler reads the build dir, and removed in the background.

Package indexes are reached as the machine reaches them: the container trusts the machine's CA bundle and
gets the machine's pip settings (build/pipconf.py), the files they name mounted read-only. Scripts run as
root in the container when the daemon is root (the build dir is the daemon's), else as the daemon's user;
the slug they make runs as the stack's unprivileged dyno user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from herokusim import stack
from herokusim.builds import pipconf
from herokusim.builds.compiler import BuildError, Emit, Spawn
from herokusim.config import STACK
from herokusim.dynos.runtime.docker import LABEL_HOME, LABEL_ROLE


class ContainerBuildHost:
    def __init__(self, client: Any, image: stack.StackImage, home: Path) -> None:
        self.client = client
        self.stack = image
        self.home = home

    @contextlib.contextmanager
    def session(self, paths: list[Path], readonly: list[Path], emit: Emit) -> Iterator[Spawn]:
        cli = shutil.which("docker")
        if cli is None:
            raise BuildError("The docker command is not installed: builds on the Docker runtime run "
                             "buildpacks with `docker exec`; install it or use `herokusim up --runtime process`")
        try:
            image = self.stack.wait(emit)  # the first start's image may still be being built
        except stack.StackError as e:
            raise BuildError(f"No stack image to build in: {e}") from None
        writable = outermost(paths)
        # the buildpacks read-only: code an app runs in its build must not change the scripts of later builds
        mounts = {p: "rw" for p in writable}
        mounts.update({p: "ro" for p in outermost(readonly) if not any(p.is_relative_to(w) for w in writable)})
        pip = pipconf.collect(os.environ, Path.home())
        container = self.client.containers.run(
            image, ["sleep", "infinity"], detach=True, init=True,
            name=f"herokusim-build-{uuid.uuid4().hex[:12]}",
            labels={LABEL_HOME: str(self.home), LABEL_ROLE: "build"},
            volumes={str(p): {"bind": str(p), "mode": mode} for p, mode in mounts.items()},
            mounts=_machine_mounts(pip, list(mounts)),
            # in the container's config, not on `docker exec`'s command line: an index URL may hold a password
            environment=pip.env,
        )
        user = [] if os.getuid() == 0 else ["-u", f"{os.getuid()}:{os.getgid()}"]

        def spawn(argv: list[str], cwd: Path, stderr: int, env: dict[str, str] | None = None
                  ) -> subprocess.Popen[bytes]:
            # the stack's environment, not the host's: STACK, as on Heroku, and the machine's pip settings; `env`,
            # the build's own variables (SOURCE_VERSION)
            variables = [arg for name, value in (env or {}).items() for arg in ("-e", f"{name}={value}")]
            exec_argv = [cli, "exec", *user, "-w", str(cwd), *variables, "-e", f"STACK={STACK}", container.id,
                         *argv]
            try:
                return subprocess.Popen(exec_argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=stderr, start_new_session=True)
            except OSError as e:
                raise BuildError(f"Cannot run buildpack script {argv[0]}: {e.strerror}") from None

        try:
            yield spawn
            _stop(container)
        finally:
            # also ends whatever a script left running, as the local path's process-group kill does; in the
            # background, so the push goes on to its release (a daemon that stops first reaps it on start)
            threading.Thread(target=_remove, args=(container,), daemon=True).start()


def _stop(container: Any) -> None:
    """Kill the build container before the compiler reads the build dir on the host: a process an app left
    running in it could otherwise change the build dir under that read (swap the Procfile for a link).
    The engine answers a kill once the container has stopped (~0.1 s here)."""
    import docker.errors
    import requests

    try:
        container.kill()
    except docker.errors.APIError as e:
        if e.status_code != 409:  # 409: it is not running, so nothing in it runs
            raise BuildError(f"Cannot stop the build container: {e.explanation}") from None
    except (docker.errors.DockerException, requests.RequestException) as e:  # the engine is gone: unknown
        raise BuildError(f"Cannot stop the build container: {e}") from None


def _remove(container: Any) -> None:
    with contextlib.suppress(Exception):
        container.remove(force=True)


def _machine_mounts(pip: pipconf.PipSettings, mounted: list[Path]) -> list[Any]:
    """The machine's CA bundle, and what its pip settings name, read-only at the same paths (each target once,
    none inside a path the build already mounts)."""
    import docker.types

    chosen = {m["Target"]: m for m in stack.trust_mounts()}
    for path in pip.paths:
        target = str(path)
        if target not in chosen and not any(path.is_relative_to(m) for m in mounted):
            chosen[target] = docker.types.Mount(target, str(path.resolve()), type="bind", read_only=True)
    return list(chosen.values())


def outermost(paths: list[Path]) -> list[Path]:
    """The paths to mount: each once, none inside another (a mount inside one of the same mode adds nothing)."""
    resolved = sorted({p.resolve() for p in paths}, key=lambda p: len(p.parts))
    chosen: list[Path] = []
    for path in resolved:
        if not any(path.is_relative_to(outer) for outer in chosen):
            chosen.append(path)
    return chosen
