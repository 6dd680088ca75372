"""CLI room: `herokusim`, a Heroku-shaped command line that is a thin client of the daemon's Platform API."""
