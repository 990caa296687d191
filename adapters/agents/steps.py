"""The steps an agent run is made of: each model request and each tool call is one of these,
recorded in the run's log, retried on failure and never run again once recorded.

They are registered once, under fixed names, and take the agent's name as their first argument
(lookup.py), so a queued step runs on any host that imports the agent's module, even one that
never ran the workflow. Arguments and results are JSON (codec.py); what a tool raises to talk
to the agent loop (`ModelRetry`, `ApprovalRequired`, `CallDeferred`) comes back as a value and
is raised again on the workflow side (toolset.py), since the loop, not the step, handles it.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai.exceptions import ApprovalRequired, CallDeferred, ModelHTTPError, ModelRetry
from pydantic_ai.messages import ToolReturn
from pydantic_ai.models import Model, infer_model
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.tools import RunContext
from pydantic_ai.toolsets import CombinedToolset
from pydantic_ai.usage import RunUsage

from steplane.runtime import FatalError, get_step_metadata, get_writable, step

from . import codec, events, lookup

MODEL_REQUEST = "steplane.agents:model_request"
CALL_TOOL = "steplane.agents:call_tool"
GET_TOOLS = "steplane.agents:get_tools"
ANNOUNCE = "steplane.agents:announce"

_models: dict[str, Model] = {}
"""The model of each agent, built once per process (a provider client is kept warm)."""


def model_of(agent_name: str) -> Model:
    model = _models.get(agent_name)
    if model is None:
        configured = lookup.find(agent_name).model
        if configured is None:
            raise FatalError(
                f"agent {agent_name!r} has no model: give it one at construction "
                "(Agent(model=...)), where every host that runs its steps can build it"
            )
        model = _models[agent_name] = infer_model(configured)
    return model


def rebuild_context(agent_name: str, context: dict[str, Any]) -> RunContext[Any]:
    """The tool's `RunContext` inside the step: what crosses is the run's deps and the call's
    own fields (retry counts, approval, ids); message history and usage stay with the loop."""
    return RunContext(
        deps=context.get("deps"),
        model=model_of(agent_name),
        usage=RunUsage(),
        prompt=context.get("prompt"),
        tool_call_id=context.get("tool_call_id"),
        tool_name=context.get("tool_name"),
        retry=context.get("retry", 0),
        max_retries=context.get("max_retries", 0),
        run_step=context.get("run_step", 0),
        tool_call_approved=context.get("tool_call_approved", False),
        retries=dict(context.get("retries") or {}),
        run_id=context.get("run_id"),
        conversation_id=context.get("conversation_id"),
    )


@step(name=MODEL_REQUEST)
async def model_request(
    agent: str, messages: list[Any], settings: dict[str, Any] | None, parameters: dict[str, Any]
) -> dict[str, Any]:
    """One request to the agent's model, streamed: every text delta goes to the run's stream
    as it arrives, the whole response is the step's recorded result."""
    model = model_of(agent)
    history = codec.load_messages(messages)
    request = codec.load_parameters(parameters)
    writer = get_writable()
    attempt = get_step_metadata().attempt
    try:
        if isinstance(model, FunctionModel) and model.stream_function is None:
            raise NotImplementedError  # it says so with an AssertionError
        async with model.request_stream(history, settings, request) as streamed:  # type: ignore[arg-type]
            async for event in streamed:
                chunk = events.model_event(event, attempt)
                if chunk is not None:
                    await writer.write(chunk)
            response = streamed.get()
    except NotImplementedError:  # a model without streaming answers in one piece
        response = await model.request(history, settings, request)  # type: ignore[arg-type]
    except ModelHTTPError as error:
        if 400 <= error.status_code < 500 and error.status_code not in (408, 409, 429):
            raise FatalError(
                f"{error.model_name}: HTTP {error.status_code}: {error.body}"
            ) from error
        raise
    return codec.dump_response(response)


@step(name=GET_TOOLS)
async def get_tools(agent: str, toolset_id: str, context: dict[str, Any]) -> dict[str, Any]:
    """The tools of a toolset that discovers them with I/O (an MCP server)."""
    toolset = toolset_by_id(agent, toolset_id)
    ctx = rebuild_context(agent, context)
    async with toolset:
        tools = await toolset.get_tools(ctx)
    return {
        name: {"tool_def": codec.dump_tool_def(tool.tool_def), "max_retries": tool.max_retries}
        for name, tool in tools.items()
    }


@step(name=CALL_TOOL)
async def call_tool(
    agent: str, tool_name: str, args: dict[str, Any], context: dict[str, Any]
) -> dict[str, Any]:
    """One tool call: announced on the stream, run against the agent's own toolsets, its
    result announced too."""
    ctx = rebuild_context(agent, context)
    writer = get_writable()
    await writer.write(events.tool_call(ctx.tool_call_id, tool_name, args))
    toolset = CombinedToolset(list(lookup.find(agent).toolsets))
    async with toolset:
        tools = await toolset.get_tools(ctx)
        if tool_name not in tools:
            raise FatalError(f"agent {agent!r} has no tool {tool_name!r} in this process")
        try:
            value = await toolset.call_tool(tool_name, args, ctx, tools[tool_name])
        except ModelRetry as retry:
            return {"kind": "retry", "message": retry.message}
        except ApprovalRequired as approval:
            return {"kind": "approval_required", "metadata": codec.jsonable(approval.metadata)}
        except CallDeferred as deferred:
            return {"kind": "call_deferred", "metadata": codec.jsonable(deferred.metadata)}
    if isinstance(value, ToolReturn):
        outcome = {
            "kind": "tool_return",
            "return_value": codec.jsonable(value.return_value),
            "content": codec.jsonable(value.content),
            "metadata": codec.jsonable(value.metadata),
        }
        shown = outcome["return_value"]
    else:
        outcome = {"kind": "return", "value": codec.jsonable(value)}
        shown = outcome["value"]
    await writer.write(events.tool_result(ctx.tool_call_id, tool_name, shown))
    return outcome


@step(name=ANNOUNCE)
async def announce(*chunks: Any) -> None:
    """Write chunks to the run's stream from workflow code (an approval request, the answer,
    your own): only a step may write to a stream, so this is one."""
    writer = get_writable()
    for chunk in chunks:
        await writer.write(chunk)


def toolset_by_id(agent: str, toolset_id: str) -> Any:
    found: list[Any] = []
    CombinedToolset(list(lookup.find(agent).toolsets)).apply(
        lambda leaf: found.append(leaf) if leaf.id == toolset_id else None
    )
    if not found:
        raise FatalError(f"agent {agent!r} has no toolset with id {toolset_id!r} in this process")
    return found[0]
