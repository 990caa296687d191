"""Order checkout saga: reserve stock, charge the card, send a receipt; when the charge fails
for good, release the reservation (compensation).

    steplane run examples.checkout:checkout o-1            # completes
    steplane run examples.checkout:checkout o-2 250000     # card refused -> compensated
"""

from __future__ import annotations

from runtime import FatalError, get_step_metadata, step, workflow


@step
async def reserve_stock(order_id: str) -> str:
    return f"reservation-{order_id}"


@step(max_retries=2)
async def charge_card(order_id: str, cents: int) -> dict:
    if cents > 100_000:
        raise FatalError(f"card limit exceeded for {cents / 100:.2f} USD")
    # step_id is stable across retries: pass it to the payment provider as the idempotency key
    return {"charge_id": f"ch-{get_step_metadata().step_id}-{order_id}", "cents": cents}


@step
async def release_stock(reservation: str) -> str:
    return f"released {reservation}"


@step
async def send_receipt(order_id: str, charge: dict) -> str:
    return f"receipt for {order_id}: {charge['cents'] / 100:.2f} USD"


@workflow(name="checkout")
async def checkout(order_id: str, cents: int = 1999) -> dict:
    reservation = await reserve_stock(order_id)
    try:
        charge = await charge_card(order_id, cents)
    except FatalError as declined:
        return {
            "order_id": order_id,
            "status": "cancelled",
            "reason": str(declined),
            "compensation": await release_stock(reservation),
        }
    return {
        "order_id": order_id,
        "status": "paid",
        "charge": charge,
        "receipt": await send_receipt(order_id, charge),
    }
