"""dynos/limits: what each dyno size may use and how long a crashed dyno waits — the size table and its
memory quotas, the R15 limits, and Heroku's crash cool-off schedule. Numbers only: dynos/manager acts on them."""

from __future__ import annotations

from herokusim.config import Settings

# Minutes of cool-off before each restart of a crashed dyno: the first at once, then 20, 40, 60, 180,
# 320 and every 320 after that (simulated clock).
CRASH_COOLOFFS = (0, 20, 40, 60, 180, 320)
CRASH_STABLE_MINUTES = 10  # up this long (simulated) before a crash: the schedule starts afresh
# Memory quota of each size, in multiples of standard-1X's (512 MB; Settings.memory_quota_mb): 2.5 GB
# performance-m, 14 GB performance-l, 30 GB performance-l-RAM, 62 GB performance-XL, 126 GB performance-2XL.
SIZES = {"eco": 1.0, "basic": 1.0, "standard-1X": 1.0, "standard-2X": 2.0, "performance-m": 5.0,
         "performance-l": 28.0, "performance-l-RAM": 60.0, "performance-XL": 124.0, "performance-2XL": 252.0}
R15_FACTOR = 2.0  # R15 and SIGKILL above twice the quota...
R15_FACTORS = {"performance-l-RAM": 1.2, "performance-XL": 1.2, "performance-2XL": 1.2}  # ...these at 1.2x


def crash_cooloff(crashes: int) -> float:
    """Minutes to wait before restarting a dyno that has crashed `crashes` times in a row (>= 1)."""
    return CRASH_COOLOFFS[min(crashes, len(CRASH_COOLOFFS)) - 1]


def memory_quota_mb(settings: Settings, size: str) -> float:
    return settings.memory_quota_mb * SIZES.get(size, 1.0)


def r15_limit_mb(settings: Settings, size: str) -> float:
    """Memory above which the dyno manager kills the dyno with R15."""
    return memory_quota_mb(settings, size) * R15_FACTORS.get(size, R15_FACTOR)
