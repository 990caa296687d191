"""The workflow side of the model: a request is the `model_request` step, whose recorded
response is what the agent loop gets back, on the first run and on every replay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic_ai.exceptions import UserError
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from . import codec, steps


class SteplaneModel(WrapperModel):
    """Sends each request of the agent named `agent_name` through a step."""

    def __init__(self, wrapped: Model, agent_name: str) -> None:
        super().__init__(wrapped)
        self.agent_name = agent_name

    async def __aenter__(self) -> SteplaneModel:
        return self  # the real model opens its client inside the step

    async def __aexit__(self, *args: Any) -> bool | None:
        return None

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        recorded = await steps.model_request(
            self.agent_name,
            codec.dump_messages(messages),
            codec.jsonable(model_settings) if model_settings else None,
            codec.dump_parameters(model_request_parameters),
        )
        return codec.load_response(recorded)

    @asynccontextmanager
    async def request_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[StreamedResponse]:
        raise UserError(
            "SteplaneAgent streams every model request to the run's stream (get_writable) from "
            "inside its step: call run(), and read run.stream() for the deltas"
        )
        yield  # pragma: no cover
