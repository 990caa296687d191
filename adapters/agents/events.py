"""The chunks an agent run writes to its stream (`get_writable()`), as plain JSON dicts.

One shape per thing a chat client renders, each with a `type`:

- `text_delta`  `{"delta"}`: a piece of the model's answer, as the model streams it;
- `tool_call`   `{"tool_call_id", "tool_name", "args"}`: a tool is about to run;
- `tool_result` `{"tool_call_id", "tool_name", "content"}`: what it returned;
- `approval_required` `{"token", "tool_call_id", "tool_name", "args"}`: the run waits on a
  hook until `resume_hook(token, {"approved": true})` (or `false`, with a `"message"`);
- `answer`      `{"output"}`: the agent's final output for this run.

Model chunks carry `attempt` (the model step's attempt): a retried request streams again, and a
client that renders deltas drops those of an earlier attempt.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai.messages import (
    AgentStreamEvent,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
)


def model_event(event: AgentStreamEvent, attempt: int) -> dict[str, Any] | None:
    """The chunk for one event of a streamed model response, or None for events a chat client
    does not render (thinking, tool-call argument deltas: the tool call itself is announced)."""
    if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
        if event.part.content:
            return {"type": "text_delta", "delta": event.part.content, "attempt": attempt}
        return None
    if (
        isinstance(event, PartDeltaEvent)
        and isinstance(event.delta, TextPartDelta)
        and event.delta.content_delta
    ):
        return {"type": "text_delta", "delta": event.delta.content_delta, "attempt": attempt}
    return None


def tool_call(tool_call_id: str | None, tool_name: str, args: Any) -> dict[str, Any]:
    return {"type": "tool_call", "tool_call_id": tool_call_id, "tool_name": tool_name, "args": args}


def tool_result(tool_call_id: str | None, tool_name: str, content: Any) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_call_id": tool_call_id,
        "tool_name": tool_name,
        "content": content,
    }


def approval_required(token: str, tool_call_id: str, tool_name: str, args: Any) -> dict[str, Any]:
    return {
        "type": "approval_required",
        "token": token,
        "tool_call_id": tool_call_id,
        "tool_name": tool_name,
        "args": args,
    }


def answer(output: Any) -> dict[str, Any]:
    return {"type": "answer", "output": output}
