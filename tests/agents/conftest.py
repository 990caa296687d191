"""Agent tests: the flight agent's journal starts empty for every test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def fresh_journal() -> None:
    from tests.agents import flight_agent

    flight_agent.calls.clear()
