"""router/limits: Heroku's router limits as herokusim ships them, shared by the client side and the dyno side.

The router's timeouts (H12, H15, H19, H20, H28, the quarantine) are settings in herokusim.config, so tests
can shorten them; these numbers are not, and tests/test_router_defaults.py holds them to Heroku's.
"""

from __future__ import annotations

MAX_CONNECT_ATTEMPTS = 10  # dynos tried for one request before H21/H19
BACKLOG_PER_DYNO = 200  # H11: more requests than this per web dyno in flight for an app
# H25: Heroku's request limits
MAX_REQUEST_LINE = 8192
MAX_HEADER = 8192  # one header line, name and value
MAX_HEADER_NAME = 1000
MAX_HEADERS = 1000
MAX_HEAD_BYTES = 256 * 1024  # memory guard: past this a head (a request's or a response's) is not read further
