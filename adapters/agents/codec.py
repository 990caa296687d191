"""How Pydantic AI's values cross a step boundary: as JSON, through Pydantic AI's own type
adapters, so a recorded model response or tool result is rebuilt exactly on replay.

A step's arguments and result are stored in the run's log (encrypted); steplane's value encoding
takes JSON types, so messages, responses and request parameters go in as the JSON that Pydantic
AI itself produces (`ModelMessagesTypeAdapter`) and come out through the same adapters. Nothing
is imported because data named it (invariant 9): the adapters know their own types.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.tools import ToolDefinition
from pydantic_core import to_jsonable_python

_response = TypeAdapter(ModelResponse)
_parameters = TypeAdapter(ModelRequestParameters)


def dump_messages(messages: list[ModelMessage]) -> list[Any]:
    return ModelMessagesTypeAdapter.dump_python(messages, mode="json")


def load_messages(data: list[Any]) -> list[ModelMessage]:
    return ModelMessagesTypeAdapter.validate_python(data)


def dump_response(response: ModelResponse) -> dict[str, Any]:
    return _response.dump_python(response, mode="json")


def load_response(data: dict[str, Any]) -> ModelResponse:
    return _response.validate_python(data)


def dump_parameters(parameters: ModelRequestParameters) -> dict[str, Any]:
    return _parameters.dump_python(parameters, mode="json")


def load_parameters(data: dict[str, Any]) -> ModelRequestParameters:
    return _parameters.validate_python(data)


def jsonable(value: Any) -> Any:
    """A tool's return value as JSON (what the model sees of it anyway)."""
    return to_jsonable_python(value, fallback=str)


_tool_def = TypeAdapter(ToolDefinition)


def dump_tool_def(tool_def: ToolDefinition) -> dict[str, Any]:
    return _tool_def.dump_python(tool_def, mode="json")


def load_tool_def(data: dict[str, Any]) -> ToolDefinition:
    return _tool_def.validate_python(data)
