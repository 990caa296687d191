"""Drive one booking the way a chat client does: read the run's stream, approve the booking
when the agent asks, and collect everything the stream carried."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime import Run, resume_hook, start

PROMPT = "Book me a flight from Paris to Tokyo"


async def book_and_approve(workflow: Any, *, approved: bool = True) -> tuple[Any, list[Any]]:
    run = await start(workflow, PROMPT)
    chunks = await asyncio.wait_for(read_and_approve(run, approved=approved), timeout=60)
    return await run.result(timeout=30), chunks


async def read_and_approve(run: Run, *, approved: bool = True) -> list[Any]:
    chunks: list[Any] = []
    async for chunk in run.stream():
        chunks.append(chunk)
        if isinstance(chunk, dict) and chunk.get("type") == "approval_required":
            await resume_hook(chunk["token"], {"approved": approved, "message": "not today"})
    return chunks
