"""`SteplaneAgent(agent)`: a Pydantic AI agent whose run is workflow code, in the style of
Pydantic AI's own durable wrappers (`TemporalAgent`, `DBOSAgent`, `PrefectAgent`).

The agent loop runs inside the workflow and is replayed like any workflow code; what it does
with the world is a step: each model request (steps.model_request, streamed to the run's stream
as it arrives) and each tool call (steps.call_tool). A tool that needs approval ends Pydantic
AI's run with `DeferredToolRequests`; `run()` then waits on one hook per call until a human
answers (`resume_hook(token, {"approved": True})`), and runs the agent on with the decisions.
Outside a workflow `run()` is the wrapped agent's own `run()`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_ai.agent import AbstractAgent
from pydantic_ai.agent.wrapper import WrapperAgent
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.exceptions import UserError
from pydantic_ai.models import Model
from pydantic_ai.run import AgentRunResult
from pydantic_ai.tools import DeferredToolRequests, DeferredToolResults, ToolApproved, ToolDenied
from pydantic_ai.toolsets import AbstractToolset

from steplane.runtime import create_hook, now, uuid4
from steplane.runtime.context import current_instance

from . import codec, events, lookup, steps
from .model import SteplaneModel
from .toolset import durable_toolset

MAX_APPROVAL_ROUNDS = 100
"""Rounds of approvals one `run()` waits for before it gives up (a loop has a bound)."""


@dataclass
class SteplaneDurability(AbstractCapability[Any]):
    """The run-time capability: model and toolset wrapped in steps, a replay-stable clock and
    run id. `SteplaneAgent` adds it to each run it makes inside a workflow."""

    agent_name: str = ""

    def get_wrapper_model(self, model: Model) -> Model | None:
        return model if isinstance(model, SteplaneModel) else SteplaneModel(model, self.agent_name)

    def get_wrapper_toolset(self, toolset: AbstractToolset[Any]) -> AbstractToolset[Any] | None:
        return durable_toolset(toolset, self.agent_name)

    def get_run_clock(self) -> Callable[[], datetime] | None:
        return now

    def get_default_run_id(self) -> str | None:
        return str(uuid4())


def in_workflow() -> bool:
    return current_instance() is not None


class SteplaneAgent(WrapperAgent[Any, Any]):
    """Wrap `agent` so that, inside a `@workflow`, `await SteplaneAgent(agent).run(prompt)`
    is durable: model requests and tool calls are steps, approvals are hooks.

    `name` (default: the agent's own `name`) is what the steps record; it must be unique in
    the process and stable across deployments. Deps must be serializable (they travel to the
    tool steps)."""

    def __init__(self, wrapped: AbstractAgent[Any, Any], *, name: str | None = None) -> None:
        super().__init__(wrapped)
        agent_name = name or wrapped.name
        if not agent_name:
            raise UserError(
                "SteplaneAgent needs a name to record in its steps: Agent(..., name='...') "
                "or SteplaneAgent(agent, name='...')"
            )
        self._agent_name = agent_name
        lookup.remember(wrapped, agent_name)

    @property
    def name(self) -> str:
        return self._agent_name

    @name.setter
    def name(self, value: str | None) -> None:
        raise UserError("a SteplaneAgent's name is recorded in its steps and cannot change")

    async def run(  # type: ignore[override]
        self,
        user_prompt: Any = None,
        *,
        output_type: Any = None,
        message_history: Sequence[Any] | None = None,
        deferred_tool_results: DeferredToolResults | None = None,
        capabilities: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> AgentRunResult[Any]:
        """The wrapped agent's `run()`: inside a workflow, durable and waiting for approvals;
        elsewhere, unchanged."""
        if not in_workflow():
            return await self.wrapped.run(
                user_prompt,
                output_type=output_type,
                message_history=message_history,
                deferred_tool_results=deferred_tool_results,
                capabilities=capabilities,
                **kwargs,
            )
        if kwargs.get("model") is not None or kwargs.get("toolsets"):
            raise UserError(
                "SteplaneAgent runs the agent's own model and toolsets (a queued step rebuilds "
                "them from the agent): pass them to Agent(...), not to run()"
            )
        wanted = output_type if output_type is not None else self.wrapped.output_type
        caller_handles_deferred = _includes(wanted, DeferredToolRequests)
        run_capabilities = [*(capabilities or []), SteplaneDurability(agent_name=self.name)]
        prompt, history, decisions = user_prompt, message_history, deferred_tool_results
        for _ in range(MAX_APPROVAL_ROUNDS):
            result = await self.wrapped.run(
                prompt,
                output_type=wanted if caller_handles_deferred else [wanted, DeferredToolRequests],
                message_history=history,
                deferred_tool_results=decisions,
                capabilities=run_capabilities,
                **kwargs,
            )
            if caller_handles_deferred or not isinstance(result.output, DeferredToolRequests):
                await steps.announce(events.answer(codec.jsonable(result.output)))
                return result
            decisions = await self.wait_for_decisions(result.output)
            prompt, history = None, result.all_messages()
        raise UserError(f"the agent asked for approval {MAX_APPROVAL_ROUNDS} times in one run")

    async def wait_for_decisions(self, requests: DeferredToolRequests) -> DeferredToolResults:
        """One hook per deferred call, announced on the stream with its token. An approval
        payload is `{"approved": bool, "message": str?}` (a bare bool works too); an external
        call's payload is its result."""
        waiting = []
        for call in [*requests.approvals, *requests.calls]:
            hook = create_hook(
                metadata={
                    "kind": "approval" if call in requests.approvals else "external_call",
                    "agent": self.name,
                    "tool_name": call.tool_name,
                    "tool_call_id": call.tool_call_id,
                }
            )
            waiting.append((call, hook))
        await steps.announce(
            *[
                events.approval_required(
                    hook.token, call.tool_call_id, call.tool_name, call.args_as_dict()
                )
                for call, hook in waiting
            ]
        )
        results = DeferredToolResults()
        for call, hook in waiting:
            with hook:
                payload = await hook
            if call in requests.approvals:
                results.approvals[call.tool_call_id] = _decision(payload)
            else:
                results.calls[call.tool_call_id] = payload
        return results


def _decision(payload: Any) -> ToolApproved | ToolDenied:
    approved = payload.get("approved") if isinstance(payload, dict) else payload
    if approved is True:
        return ToolApproved()
    message = payload.get("message") if isinstance(payload, dict) else None
    return ToolDenied(message or "The user denied this tool call.")


def _includes(output_type: Any, kind: type) -> bool:
    if output_type is kind:
        return True
    if isinstance(output_type, Sequence) and not isinstance(output_type, str):
        return any(_includes(item, kind) for item in output_type)
    return False
