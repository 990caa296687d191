"""The workflow side of tools: every call becomes the `call_tool` step, tools found with I/O
(an MCP server's listing) come from the `get_tools` step, and what a tool raised to steer the
loop is raised again here.

A tool marked `metadata={"steplane": False}` runs as workflow code instead, so it may call
`sleep`, `create_hook` and other steps (it must be `async def`, deterministic, and do its I/O
in steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_ai.exceptions import ApprovalRequired, CallDeferred, ModelRetry, UserError
from pydantic_ai.messages import ToolReturn
from pydantic_ai.tools import RunContext
from pydantic_ai.toolsets import AbstractToolset, FunctionToolset, ToolsetTool, WrapperToolset
from pydantic_core import SchemaValidator, core_schema

from . import codec, steps

_ANY_ARGS = SchemaValidator(schema=core_schema.any_schema())
"""Arguments of a tool listed by a step are checked by the toolset that runs it (in its step)."""


def context_of(ctx: RunContext[Any]) -> dict[str, Any]:
    """What a tool's step needs of its `RunContext` (steps.rebuild_context)."""
    return {
        "deps": ctx.deps,
        "prompt": ctx.prompt if isinstance(ctx.prompt, str) else None,
        "tool_call_id": ctx.tool_call_id,
        "tool_name": ctx.tool_name,
        "retry": ctx.retry,
        "max_retries": ctx.max_retries,
        "run_step": ctx.run_step,
        "tool_call_approved": ctx.tool_call_approved,
        "retries": dict(ctx.retries),
        "run_id": ctx.run_id,
        "conversation_id": ctx.conversation_id,
    }


def runs_in_workflow(tool: ToolsetTool[Any]) -> bool:
    metadata = tool.tool_def.metadata or {}
    return metadata.get("steplane") is False


@dataclass
class SteplaneToolset(WrapperToolset[Any]):
    """Wraps the run's whole toolset: each call is a step of the agent named `agent_name`."""

    agent_name: str = ""

    async def __aenter__(self) -> SteplaneToolset:
        return self  # leaves connect inside their steps, never in workflow code

    async def __aexit__(self, *args: Any) -> bool | None:
        return None

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        if runs_in_workflow(tool):
            return await self.wrapped.call_tool(name, tool_args, ctx, tool)
        outcome = await steps.call_tool(self.agent_name, name, tool_args, context_of(ctx))
        kind = outcome["kind"]
        if kind == "retry":
            raise ModelRetry(outcome["message"])
        if kind == "approval_required":
            raise ApprovalRequired(metadata=outcome.get("metadata"))
        if kind == "call_deferred":
            raise CallDeferred(metadata=outcome.get("metadata"))
        if kind == "tool_return":
            return ToolReturn(
                return_value=outcome["return_value"],
                content=outcome.get("content"),
                metadata=outcome.get("metadata"),
            )
        return outcome["value"]


@dataclass
class SteplaneDiscovery(WrapperToolset[Any]):
    """A leaf that lists its tools with I/O (not a `FunctionToolset`): listed in a step."""

    agent_name: str = ""

    async def __aenter__(self) -> SteplaneDiscovery:
        return self

    async def __aexit__(self, *args: Any) -> bool | None:
        return None

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        toolset_id = self.wrapped.id
        if toolset_id is None:
            raise UserError(
                f"toolset {self.wrapped.label} needs an id= to run durably: its tools are "
                "listed in a step, which finds the toolset by that id"
            )
        listed = await steps.get_tools(self.agent_name, toolset_id, context_of(ctx))
        return {
            name: ToolsetTool(
                toolset=self,
                tool_def=codec.load_tool_def(entry["tool_def"]),
                max_retries=entry["max_retries"],
                args_validator=_ANY_ARGS,
            )
            for name, entry in listed.items()
        }


def durable_toolset(toolset: AbstractToolset[Any], agent_name: str) -> AbstractToolset[Any]:
    """The run's toolset with every call a step and every listing that needs I/O a step."""

    def leaf(found: AbstractToolset[Any]) -> AbstractToolset[Any]:
        if isinstance(found, FunctionToolset):
            return found  # listed from the functions' signatures: no I/O, same on replay
        return SteplaneDiscovery(found, agent_name=agent_name)

    return SteplaneToolset(toolset.visit_and_replace(leaf), agent_name=agent_name)
