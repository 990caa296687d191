"""`from steplane.agents import SteplaneAgent`: durable Pydantic AI agents (the `agents` extra).

The implementation lives in the adapters layer (adapters/agents/): it adapts an agent library
onto the author API (`@step`, hooks, streams), as the Worlds adapt storage onto the World
protocol.
"""

from steplane.adapters.agents import *  # noqa: F403
from steplane.adapters.agents import __all__  # noqa: F401
