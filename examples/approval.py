"""Human approval through a hook, with a reminder every day and expiry after three reminders.

    steplane run --virtual-time examples.approval:approval inv-42 1200
        (nobody answers: three reminders go out, then the request expires)

Approve from anywhere while it waits (another process: `steplane hooks resume`, or the webhook
`POST /v1/hooks/approval:inv-42`):

    await resume_hook("approval:inv-42", {"approved": True, "by": "dana"})
"""

from __future__ import annotations

import asyncio

from runtime import create_hook, now, step, workflow

REMINDER_EVERY = 24 * 3600  # seconds
MAX_REMINDERS = 3


@step
async def send_reminder(invoice: str, number: int) -> str:
    return f"reminder {number} sent for {invoice}"


@step
async def book_invoice(invoice: str, amount: int, approver: str) -> str:
    return f"{invoice} booked ({amount} EUR, approved by {approver})"


@workflow(name="approval")
async def approval(invoice: str, amount: int) -> dict:
    reminders = []
    async with create_hook(token=f"approval:{invoice}", metadata={"amount": amount}) as hook:
        for number in range(1, MAX_REMINDERS + 2):
            try:
                decision = await asyncio.wait_for(hook, timeout=REMINDER_EVERY)
                break
            except TimeoutError:
                if number > MAX_REMINDERS:
                    return {"invoice": invoice, "status": "expired", "reminders": reminders}
                reminders.append(await send_reminder(invoice, number))
    if not decision.get("approved"):
        return {"invoice": invoice, "status": "rejected", "by": decision.get("by")}
    booked = await book_invoice(invoice, amount, decision.get("by", "unknown"))
    return {
        "invoice": invoice,
        "status": "approved",
        "booked": booked,
        "decided_at": now().isoformat(),
        "reminders": reminders,
    }
