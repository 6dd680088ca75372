"""addons/: add-on services as Heroku has them — one provider interface (provider.py) and one module per
service, backed by real servers that run on this machine."""

from herokusim.addons.provider import (
    AddonError,
    AddonNetwork,
    DeployListener,
    Events,
    Plan,
    Provider,
    Provisioned,
    Service,
)

__all__ = ["AddonError", "AddonNetwork", "DeployListener", "Events", "Plan", "Provider", "Provisioned", "Service"]
