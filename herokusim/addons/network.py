"""addons/network: where add-on servers listen and the host name their URLs give, for the runtime in use.

Process runtime: dynos are processes on this machine, so servers listen on 127.0.0.1 and URLs name it.
Docker runtime: servers listen on 127.0.0.1 and on the gateway of herokusim's add-ons network (an address
of this machine that every dyno container reaches from its own app's network), and URLs name
`host.docker.internal`, which each dyno container resolves to that gateway. Never all interfaces: nothing
off this machine reaches an add-on server. Any dyno of any app reaches the address; what keeps one app out
of another's database is the add-on's own credentials, as on Heroku.
"""

from __future__ import annotations

from typing import Any

from herokusim.addons.provider import AddonNetwork
from herokusim.config import Settings

LOOPBACK = "127.0.0.1"


def addon_network(settings: Settings, runtime: Any) -> AddonNetwork:
    """The AddonNetwork for the daemon's runtime (`settings` for the home; `runtime` the dynos' backend).
    On Docker it makes the add-ons network if missing: a few blocking SDK calls, so call it in a thread
    (`await asyncio.to_thread(addon_network, settings, runtime)`) at daemon start, before any server."""
    from herokusim.dynos.runtime.docker import HOST_ALIAS, DockerRuntime

    if not isinstance(runtime, DockerRuntime):
        return AddonNetwork(listen=(LOOPBACK,), advertise=LOOPBACK)
    gateway = runtime.addons_gateway()
    if gateway is None:  # the engine runs in a VM: its host-gateway reaches the host's loopback
        return AddonNetwork(listen=(LOOPBACK,), advertise=HOST_ALIAS)
    return AddonNetwork(listen=(LOOPBACK, gateway), advertise=HOST_ALIAS)
