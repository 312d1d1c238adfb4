"""Where the lab's data lives: the checkout's etc/ and scenarios/."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ETC = os.path.join(REPO, "etc")
SCENARIOS = os.environ.get("FAKE_LAB_SCENARIOS", os.path.join(REPO, "scenarios"))
EXPECTATIONS = os.path.join(SCENARIOS, "expectations.toml")
