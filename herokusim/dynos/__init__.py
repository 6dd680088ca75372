"""dynos/: where dynos live — the DynoManager (dynos/manager: formation reconcile, states, restarts, crashes,
cycling, one-offs, release phase), what one dyno is (dynos/dyno), the sizes, quotas and cool-offs
(dynos/limits), and the runtime backends that actually run a dyno (dynos/runtime/)."""

from herokusim.dynos.dyno import FORMATION, ONE_OFF, RELEASE, SCHEDULER, Attachment, Dyno, sim_datetime
from herokusim.dynos.limits import (
    CRASH_COOLOFFS,
    CRASH_STABLE_MINUTES,
    R15_FACTOR,
    R15_FACTORS,
    SIZES,
    crash_cooloff,
    memory_quota_mb,
    r15_limit_mb,
)
from herokusim.dynos.manager import DynoManager, free_port

__all__ = ["CRASH_COOLOFFS", "CRASH_STABLE_MINUTES", "FORMATION", "ONE_OFF", "R15_FACTOR", "R15_FACTORS",
           "RELEASE", "SCHEDULER", "SIZES", "Attachment", "Dyno", "DynoManager", "crash_cooloff", "free_port",
           "memory_quota_mb", "r15_limit_mb", "sim_datetime"]
