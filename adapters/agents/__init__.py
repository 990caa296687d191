"""Durable agents: Pydantic AI agents whose model requests and tool calls are steplane steps.

    pip install "steplane[agents]"

    from steplane.agents import SteplaneAgent     # or: from adapters.agents import ...

    @workflow
    async def book(prompt: str) -> str:
        result = await SteplaneAgent(agent).run(prompt)
        return result.output

See docs/agents.md.
"""

from steplane.runtime.extras import requires_extra

with requires_extra("agents"):
    import pydantic_ai  # noqa: F401  first, so a missing extra is named before anything else

from .agent import SteplaneAgent, SteplaneDurability
from .events import answer, approval_required, model_event, tool_call, tool_result
from .lookup import AgentNotFoundError
from .steps import announce

__all__ = [
    "AgentNotFoundError",
    "SteplaneAgent",
    "SteplaneDurability",
    "announce",
    "answer",
    "approval_required",
    "model_event",
    "tool_call",
    "tool_result",
]
