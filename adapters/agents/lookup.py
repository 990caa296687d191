"""Which Pydantic AI agent a step means: agents by name, the name being what a step records.

A step may run in a process that never ran the workflow code that wrapped the agent (a queued
step on a cold host), so the table is filled two ways: `SteplaneAgent(agent)` adds its agent,
and a name not in the table is looked for among the module-level objects of modules already
imported (the workflow modules the host imports, `STEPLANE_MODULES`). Nothing is imported
because a step named it (invariant 9).
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic_ai.agent import AbstractAgent

_agents: dict[str, AbstractAgent[Any, Any]] = {}


class AgentNotFoundError(LookupError):
    """A step names an agent this process does not have."""


def remember(agent: AbstractAgent[Any, Any], name: str) -> None:
    known = _agents.get(name)
    if known is not None and known is not agent:
        raise ValueError(
            f"two Pydantic AI agents are named {name!r}: a recorded step could reach the wrong "
            "one; give each agent its own name= (Agent(..., name=...) or SteplaneAgent(name=...))"
        )
    _agents[name] = agent


def find(name: str) -> AbstractAgent[Any, Any]:
    agent = _agents.get(name)
    if agent is not None:
        return agent
    for module in list(sys.modules.values()):
        for value in list(getattr(module, "__dict__", {}).values()):
            if isinstance(value, AbstractAgent) and value.name == name:
                wrapped = getattr(value, "wrapped", None)  # a module-level SteplaneAgent
                _agents[name] = wrapped if isinstance(wrapped, AbstractAgent) else value
                return _agents[name]
    raise AgentNotFoundError(
        f"no Pydantic AI agent named {name!r} in this process: define it at module level in "
        "a module the host imports (STEPLANE_MODULES / Emulator(modules=...))"
    )
