"""The example's flight agent, instrumented for tests: every model request and every tool
call that really runs is journaled (in `calls`, and in the file `AGENT_CALL_LOG` names, for
host processes), and `AGENT_KILL_AT=<what>:<n>,...` SIGKILLs the host process when the n-th
<what> ("model" or a tool name) is about to run, once each (marker files remember)."""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import AbstractToolset, FunctionToolset

from examples.agent_chat import flights, script
from runtime import create_hook, sleep, workflow
from steplane.agents import SteplaneAgent

calls: list[str] = []


def journal(what: str) -> None:
    seen = 1 + sum(1 for c in _all_calls() if c == what)
    point = f"{what}:{seen}"
    log = os.environ.get("AGENT_CALL_LOG")
    if log and point in os.environ.get("AGENT_KILL_AT", "").split(","):
        marker = Path(f"{log}.killed-{point.replace(':', '-')}")
        if not marker.exists():
            marker.write_text("killed")
            os.kill(os.getpid(), signal.SIGKILL)
    calls.append(what)
    if log:
        with open(log, "a") as out:
            out.write(what + "\n")


def _all_calls() -> list[str]:
    log = os.environ.get("AGENT_CALL_LOG")
    if log and os.path.exists(log):
        return Path(log).read_text().split()
    return calls


def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    journal("model")
    return script.reply(messages, info)


async def stream_reply(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
    journal("model")
    async for chunk in script.stream_reply(messages, info):
        yield chunk


def journaled(tool: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(tool)
    async def call(*args: Any, **kwargs: Any) -> Any:
        journal(tool.__name__)
        return await tool(*args, **kwargs)

    return call


agent = Agent(
    FunctionModel(reply, stream_function=stream_reply, model_name="scripted-flights"),
    name="test-flights",
)
agent.tool_plain(journaled(flights.search_flights))
agent.tool_plain(journaled(flights.seat_map))
agent.tool_plain(requires_approval=True)(journaled(flights.book_flight))

durable = SteplaneAgent(agent)


@workflow(name="test-book-flight")
async def book(prompt: str) -> str:
    result = await durable.run(prompt)
    return result.output


@workflow(name="test-book-flight-inline")
async def book_inline(prompt: str) -> str:
    """The form docs/api.md shows: the wrapper made inside the workflow."""
    return (await SteplaneAgent(agent).run(prompt)).output


# --- a tool that runs as workflow code: durable sleep and a hook from inside a tool ---------

waiting_agent = Agent(
    FunctionModel(
        lambda messages, info: (
            ModelResponse(
                parts=[script.TextPart("slept and heard: " + str(_last_return(messages)))]
            )
            if _last_return(messages) is not None
            else ModelResponse(parts=[script.ToolCallPart("wait_then_ask", {"seconds": 3600})])
        ),
        model_name="scripted-waiter",
    ),
    name="test-waiter",
)


def _last_return(messages: list[ModelMessage]) -> Any:
    return script.returns(messages).get("wait_then_ask")


@waiting_agent.tool_plain(metadata={"steplane": False})
async def wait_then_ask(seconds: int) -> Any:
    """Workflow code: an hour's durable sleep, then whatever a human sends to the hook."""
    await sleep(seconds)
    with create_hook(token="waiter:answer") as hook:
        return await hook


@workflow(name="test-waiter")
async def wait_a_while() -> str:
    return (await SteplaneAgent(waiting_agent).run("wait")).output


# --- a toolset that lists its tools with I/O (as an MCP server does) ------------------------

listings: list[str] = []


class RemoteTools(AbstractToolset[Any]):
    """Lists one tool "remotely" (counted), and answers calls to it."""

    def __init__(self, id: str) -> None:
        self._id = id
        self._tools = FunctionToolset([self.echo])

    @staticmethod
    async def echo(text: str) -> str:
        return f"echo: {text}"

    @property
    def id(self) -> str:
        return self._id

    async def get_tools(self, ctx: Any) -> dict[str, Any]:
        listings.append("list")
        tools = await self._tools.get_tools(ctx)
        return {name: replace(tool, toolset=self) for name, tool in tools.items()}

    async def call_tool(self, name: str, tool_args: dict[str, Any], ctx: Any, tool: Any) -> Any:
        return await self._tools.call_tool(name, tool_args, ctx, tool)


remote_agent = Agent(
    FunctionModel(
        lambda messages, info: (
            ModelResponse(
                parts=[script.TextPart("remote said " + str(script.returns(messages)["echo"]))]
            )
            if "echo" in script.returns(messages)
            else ModelResponse(parts=[script.ToolCallPart("echo", {"text": "hi"})])
        ),
        model_name="scripted-remote",
    ),
    name="test-remote",
    toolsets=[RemoteTools(id="remote")],
)


@workflow(name="test-remote-tools")
async def use_remote_tools() -> str:
    return (await SteplaneAgent(remote_agent).run("go")).output
