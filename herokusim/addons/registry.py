"""addons/registry: which provider serves which add-on service, loaded only when it is first needed.

`SERVICES` maps a service's name to its provider class as `"module:Class"`: importing a provider is
deferred, so a service whose server is missing (no Postgres binaries, say) never stops the daemon from
starting; it only fails the operations that need it, with one line. One line per service:

    SERVICES["heroku-postgresql"] = "herokusim.addons.postgres:PostgresProvider"

Test hook (documented, for tests only): `HEROKUSIM_TEST_ADDON_PROVIDERS="service=module:Class,..."` adds or
replaces services for the daemon it is set for (tests/addon_providers.py holds the suite's stand-ins).
"""

from __future__ import annotations

import importlib
import os

from herokusim.addons.provider import AddonError

SERVICES: dict[str, str] = {
    "deployhooks": "herokusim.addons.deployhooks:DeployHooksProvider",
    "heroku-postgresql": "herokusim.addons.postgres:PostgresProvider",
    "heroku-redis": "herokusim.addons.redis:RedisProvider",
    "scheduler": "herokusim.addons.scheduler:SchedulerProvider",
}
TEST_HOOK = "HEROKUSIM_TEST_ADDON_PROVIDERS"


def services() -> dict[str, str]:
    """SERVICES plus those of the test hook."""
    found = dict(SERVICES)
    for entry in filter(None, (e.strip() for e in os.environ.get(TEST_HOOK, "").split(","))):
        name, _, target = entry.partition("=")
        if name and ":" in target:
            found[name.strip()] = target.strip()
    return found


def load(service: str) -> type:
    """The provider class of `service`; AddonError (one line) if it is unknown or cannot be loaded."""
    target = services().get(service)
    if target is None:
        raise AddonError(f"Couldn't find either the add-on service or the add-on plan of \"{service}\".")
    module, _, attribute = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise AddonError(f"the {service} add-on service is not available in this herokusim: {exc}") from None
