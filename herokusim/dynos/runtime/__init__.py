"""dynos/runtime: where a dyno actually runs. A backend only prepares, starts, signals, waits and
measures; every decision about states, log lines and restarts belongs to dynos/.

The contract: dynos/runtime/backend. The backends: dynos/runtime/process (a process group, optionally in
its own namespaces) and dynos/runtime/docker (a container of the stack image).
"""

from herokusim.dynos.runtime.backend import BOOT_SCRIPT, DynoSpec, RunningDyno, Runtime, accepts, boot_command

__all__ = ["BOOT_SCRIPT", "DynoSpec", "RunningDyno", "Runtime", "accepts", "boot_command"]
