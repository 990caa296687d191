"""The model's HTTP path for real: Pydantic AI's OpenAI provider, inside the model step,
talking over HTTP to a local OpenAI-compatible server on 127.0.0.1 (no network beyond it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvicorn

from local_emulator import Emulator
from runtime import start
from tests.agents import fake_openai, openai_agent


@pytest.fixture
async def fake_server() -> AsyncIterator[None]:
    config = uvicorn.Config(
        fake_openai.app, host="127.0.0.1", port=openai_agent.PORT, log_level="error"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    fake_openai.requests.clear()
    openai_agent.tool_calls.clear()
    try:
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


async def test_an_agent_on_the_openai_provider_over_http(fake_server: None) -> None:
    async with Emulator(world="memory", modules=["tests.agents.openai_agent"]):
        run = await start(openai_agent.weather, "What is the weather in Paris?")
        chunks = [chunk async for chunk in run.stream()]
        output = await run.result(timeout=30)
    assert output.strip() == "The weather: sunny, 24°C in Paris."
    assert openai_agent.tool_calls == ["Paris"]
    assert len(fake_openai.requests) == 2 and all(r["stream"] for r in fake_openai.requests)
    tool_message = fake_openai.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool" and "24°C" in tool_message["content"]
    deltas = [c["delta"] for c in chunks if c["type"] == "text_delta"]
    assert len(deltas) > 3 and "".join(deltas) == output
