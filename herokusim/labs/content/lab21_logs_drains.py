"""Lab 21: logs and drains — errors nobody sees until the logs go somewhere kept (listed, not playable)."""

from __future__ import annotations

from herokusim.labs.lab import Lab

LAB = Lab(
    number=21,
    slug="logs-drains",
    title="Logs and drains",
    lesson=("Heroku keeps only the last 1,500 log lines: an error logged at night is gone by morning unless "
            "a log drain sends every line to a collector that keeps them."),
    task=("Something fails now and then and nobody sees it.\n"
          "Add a log drain to a local collector (`herokusim drains:add URL`) and find the error there."),
    waits_for="log drains (`drains:add`)",
)
