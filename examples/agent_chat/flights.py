"""A flight-booking agent whose every model request and tool call is a durable step, and whose
booking waits for a human's approval on a hook.

    steplane dev examples.agent_chat        # then open http://127.0.0.1:8787/chat

The model is scripted (script.py) unless `AGENT_CHAT_MODEL` names a real one, e.g.
`AGENT_CHAT_MODEL=openai:gpt-4o-mini` with `OPENAI_API_KEY` set.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from pydantic_ai import Agent

from runtime import create_hook, workflow
from steplane.agents import SteplaneAgent, announce

from .script import scripted_model

MAX_TURNS = 20
"""Messages one chat session takes before it ends (a loop has a bound)."""

agent = Agent(
    os.environ.get("AGENT_CHAT_MODEL") or scripted_model(),
    name="flights",
    instructions="You book flights. Search, check seats, then book (booking needs approval).",
)


@agent.tool_plain
async def search_flights(origin: str, destination: str) -> list[dict[str, Any]]:
    """Flights from origin to destination tomorrow."""
    code = hashlib.sha256(f"{origin}-{destination}".encode()).hexdigest()[:3].upper()
    return [
        {"flight": f"SL{int(code, 16) % 900 + 100}", "departs": "09:40", "price_eur": 612},
        {"flight": f"SL{int(code, 16) % 900 + 101}", "departs": "21:15", "price_eur": 540},
    ]


@agent.tool_plain
async def seat_map(flight: str) -> dict[str, Any]:
    """Free seats on a flight."""
    return {"flight": flight, "free": ["14A", "14C", "31F"]}


@agent.tool_plain(requires_approval=True)
async def book_flight(flight: str, seat: str, passenger: str) -> dict[str, Any]:
    """Book a seat (asks the user first)."""
    confirmation = hashlib.sha256(f"{flight}/{seat}/{passenger}".encode()).hexdigest()[:6]
    return {"flight": flight, "seat": seat, "confirmation": confirmation.upper()}


durable = SteplaneAgent(agent)


@workflow(name="agent-chat")
async def chat(first_message: str) -> dict[str, Any]:
    """One chat session: answer a message, then wait on a hook for the next one."""
    history: list[Any] = []
    message, turns = first_message, 0
    for turns in range(1, MAX_TURNS + 1):
        await announce({"type": "user_message", "message": message})  # every browser shows it
        result = await durable.run(message, message_history=history)
        history = result.all_messages()
        next_message = create_hook(metadata={"kind": "next_message"})
        await announce({"type": "waiting_for_user", "token": next_message.token})
        with next_message:
            payload = await next_message
        if not isinstance(payload, dict) or not payload.get("message"):
            return {"turns": turns, "last_answer": result.output}
        message = str(payload["message"])
    return {"turns": turns, "last_answer": "session ended"}
