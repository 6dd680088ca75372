"""api/: the Platform API v3 subset over HTTP/JSON on loopback — the only door the CLI and the TUI use.

api/server builds the aiohttp application (middleware, every route); one module per resource handles its
requests (apps_api, releases_api, dynos_api, clock_api, logs_api, router_api, stack_api, account_api); api/shapes holds
the JSON shapes of the answers; api/body, api/ranges and api/responses are what every handler shares.
"""

from herokusim.api.server import create_api

__all__ = ["create_api"]
