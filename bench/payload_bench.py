"""Payload benchmark: a 50 MB `bytes` step result round trip on the embedded moto World vs a
raw S3 put+get of the same bytes through the same moto, in the same run.

The steplane side starts a workflow whose one inline step returns `--mb` MB of bytes: the
result is serialized (framed raw, docs/serialization.md), encrypted, put to S3, recorded, read
back from S3 and decrypted for the workflow, which returns its length. The peer is
`put_object` + `get_object` of the same bytes on the same moto S3 client. Rounds alternate and
the medians are reported with their ratio (`ratio`, target within 2x) and the bytes stored for
the result (`stored_bytes`, target ~50 MB: base64 would store 67 MB).

`base64_before` repeats both sides at `--before-mb` (below the 50 MB limit even with base64's
4/3 inflation) with raw framing switched off (`serde.RAW_MIN_BYTES`), i.e. the encoding
before framing, next to the framed encoding at the same size.

    .venv/bin/python -m bench.payload_bench [--mb 50] [--rounds 3] [--before-mb 37]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from local_emulator import Emulator
from runtime import serde, start

from .bench_workflows import big_result

MB = 1024 * 1024


def _raw_put_get(world: Any, data: bytes, key: str) -> float:
    s3, bucket = world.aws.s3, world.config.bucket
    began = time.perf_counter()
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    back = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    elapsed = time.perf_counter() - began
    assert back == data
    s3.delete_object(Bucket=bucket, Key=key)
    return elapsed


async def _steplane_round_trip(world: Any, size: int) -> tuple[float, int]:
    began = time.perf_counter()
    run = await start(big_result, size)
    assert await run.result(timeout=600) == size
    elapsed = time.perf_counter() - began
    stored = [e.attrs["blob_size"] for e in await world.log.read(run.run_id) if "blob" in e.attrs]
    await world.blobs.delete_prefix(f"{run.run_id}/")  # keep moto's memory flat across rounds
    return elapsed, sum(stored)


async def _compare(emu: Emulator, size: int, rounds: int) -> dict[str, Any]:
    data = b"\xa5" * size
    raw, ours, stored = [], [], 0
    for i in range(rounds):
        raw.append(await asyncio.to_thread(_raw_put_get, emu.world, data, f"bench/raw-{i}"))
        elapsed, stored = await _steplane_round_trip(emu.world, size)
        ours.append(elapsed)
    raw_s, ours_s = statistics.median(raw), statistics.median(ours)
    return {
        "value_bytes": size,
        "raw_s3_put_get_s": round(raw_s, 4),
        "steplane_round_trip_s": round(ours_s, 4),
        "ratio": round(ours_s / raw_s, 2),
        "stored_bytes": stored,
        "stored_vs_value": round(stored / size, 4),
        "rounds_raw_s": [round(t, 4) for t in raw],
        "rounds_steplane_s": [round(t, 4) for t in ours],
    }


async def main(mb: float, rounds: int, before_mb: float) -> dict[str, Any]:
    async with Emulator(world="aws", modules=["bench.bench_workflows"]) as emu:
        await _compare(emu, MB, 1)  # warm up clients, codecs and the bucket
        result: dict[str, Any] = {"world": "aws (moto in-process)", "rounds": rounds}
        result["raw"] = await _compare(emu, int(mb * MB), rounds)
        before_size = int(before_mb * MB)
        result["base64_before"] = {"framed": await _compare(emu, before_size, rounds)}
        saved = serde.RAW_MIN_BYTES
        serde.RAW_MIN_BYTES = 1 << 62  # every bytes value as base64, as before framing
        try:
            result["base64_before"]["base64"] = await _compare(emu, before_size, rounds)
        finally:
            serde.RAW_MIN_BYTES = saved
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before-mb", type=float, default=37.0)
    options = parser.parse_args()
    print(json.dumps(asyncio.run(main(options.mb, options.rounds, options.before_mb)), indent=2))
