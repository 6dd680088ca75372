"""Lab 20: regions — an app far from its users pays added latency on every request (listed, not playable)."""

from __future__ import annotations

from herokusim.labs.lab import Lab

LAB = Lab(
    number=20,
    slug="regions",
    title="Regions",
    lesson=("An app runs in one region; users on another continent pay the round trip on every request. "
            "Moving it means a copy in the other region (`apps:fork --region eu`), not a setting."),
    task=("The app answers, but slowly for its users: look at the router lines' service times.\n"
          "Fork it to the users' region with `herokusim apps:fork --region eu` and compare."),
    waits_for="`apps:fork --region` (regions with their own latency in the router)",
)
