"""The scripted model the example runs on by default, so it works without any network or API
key: a Pydantic AI `FunctionModel` that plays a flight-booking assistant, deciding its next move
from the conversation so far (search, look at seats, book, then answer), and streaming its
text word by word the way a real model does.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel


def returns(messages: list[ModelMessage]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, ToolReturnPart):
                    found[part.tool_name] = part.content
    return found


def _prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ""


def next_move(messages: list[ModelMessage]) -> ToolCallPart | str:
    """The tool to call next, or the final answer."""
    done = returns(messages)
    prompt = _prompt(messages)
    route = re.search(r"from ([A-Z][\w ]*?) to ([A-Z][\w]*)", prompt)
    origin, destination = route.groups() if route else ("Paris", "Tokyo")
    if "search_flights" not in done:
        return ToolCallPart("search_flights", {"origin": origin, "destination": destination})
    flights = done["search_flights"]
    flight = flights[0]["flight"] if flights else "none"
    if "seat_map" not in done:
        return ToolCallPart("seat_map", {"flight": flight})
    seat = done["seat_map"]["free"][0]
    if "book_flight" not in done:
        return ToolCallPart("book_flight", {"flight": flight, "seat": seat, "passenger": "Ada"})
    booking = done["book_flight"]
    if not isinstance(booking, dict):
        return f"Understood, I have not booked {flight}. Anything else?"
    return (
        f"You are booked on {flight} from {origin} to {destination}, seat {seat}. "
        f"Your confirmation code is {booking['confirmation']}."
    )


def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    move = next_move(messages)
    return ModelResponse(parts=[move if isinstance(move, ToolCallPart) else TextPart(move)])


async def stream_reply(
    messages: list[ModelMessage], info: AgentInfo
) -> AsyncIterator[str | DeltaToolCalls]:
    move = next_move(messages)
    if isinstance(move, ToolCallPart):
        yield {0: DeltaToolCall(name=move.tool_name, json_args=json.dumps(move.args))}
        return
    for word in re.findall(r"\S+\s*", move):
        yield word


def scripted_model() -> FunctionModel:
    return FunctionModel(reply, stream_function=stream_reply, model_name="scripted-flights")
