"""An agent on Pydantic AI's real OpenAI chat model, pointed at a local OpenAI-compatible
server (fake_openai.py) whose port is chosen here, at import, so that every process that
imports this module builds the same model."""

from __future__ import annotations

from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from local_emulator.dev import free_port
from runtime import workflow
from steplane.agents import SteplaneAgent

PORT = free_port()

agent = Agent(
    OpenAIChatModel(
        "gpt-fake",
        provider=OpenAIProvider(base_url=f"http://127.0.0.1:{PORT}/v1", api_key="sk-local"),
    ),
    name="test-openai-weather",
)
tool_calls: list[str] = []


@agent.tool_plain
async def get_weather(city: str) -> str:
    """The weather in a city."""
    tool_calls.append(city)
    return f"sunny, 24°C in {city}"


durable = SteplaneAgent(agent)


@workflow(name="test-openai-weather")
async def weather(question: str) -> str:
    return (await durable.run(question)).output
