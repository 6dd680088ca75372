"""testing/: tools for testing a user's app against herokusim — the pytest plugin (and `herokusim doctor`)."""
