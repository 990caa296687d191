"""Wide fan-outs always finish (docs/invariants.md #8), on the memory World and on the AWS World
on an in-process moto, whose unserialized calls used to lose a step's events and hang about
one 400-way fan-out in five. The full 20-trial measurement is `bench/fanout_trials.py`.
"""

from __future__ import annotations

import pytest

from bench.fanout_trials import trial

TRIALS = 3
STEPS = 400


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("world", ["memory", "aws"])
async def test_a_400_way_fan_out_completes_every_time(world: str) -> None:
    outcomes = [(await trial(world, STEPS, 150.0, virtual_time=True))[0] for _ in range(TRIALS)]
    assert outcomes == ["completed"] * TRIALS
