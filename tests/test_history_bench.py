"""`python -m bench.history_bench` keeps working, and takes each ratio inside its round: two
Emulators measuring the same thing can differ by half on moto, so a ratio of figures from
different rounds would report that noise as a cost of the history."""

from __future__ import annotations

import json

import pytest

from bench import history_bench


def figure(ms: float) -> dict[str, float]:
    return {"ms_per_step": ms, "cpu_ms_per_step": ms, "replays": 1}


def test_a_slow_round_is_not_read_as_a_cost_of_the_history() -> None:
    # (warm at H=50, cold at H=5000) per round: the same 1.5x in two rounds, and a third
    # round where the machine slowed down for the cold figure only.
    pairs = [(10.0, 15.0), (20.0, 30.0), (12.0, 50.0)]
    rounds = []
    for warm, cold in pairs:
        measured = {"warm": {"50": figure(warm)}, "cold": {"5000": figure(cold)}}
        history_bench.with_ratios(measured, "50")
        rounds.append(measured)
    merged = history_bench.over_rounds(rounds)
    target = history_bench.targets(merged, "50", "5000")["cold at H=5000 vs warm at H=50"]
    # The median of the rounds' ratios; the ratio of the medians (30 / 12 = 2.5) is not met.
    assert (target["cpu"], target["wall"], target["met"]) == (1.5, 1.5, True)
    assert target["cpu_by_round"] == [1.5, 1.5, 4.17]
    assert merged["warm"]["50"]["ms_per_step"] == 12.0
    assert merged["cold"]["5000"]["replays"] == 1  # counts stay whole
    assert [r["ms_per_step"] for r in merged["cold"]["5000"]["rounds"]] == [15.0, 30.0, 50.0]


def test_every_figure_is_measured_early_in_one_round_and_late_in_another() -> None:
    items = ["a", "b", "c"]
    orders = [history_bench.shifted(items, index, 3) for index in range(3)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    assert history_bench.shifted(items, 0, 1) == items


@pytest.mark.slow
async def test_the_benchmark_reports_every_round(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--worlds", "memory", "--histories", "5,20", "--steps", "2", "--rounds", "2"]
    await history_bench.main([*argv, "--modes", "warm,cold"])
    world = json.loads(capsys.readouterr().out)["worlds"]["memory"]
    assert set(world["targets"]) == {"cold at H=20 vs warm at H=5"}
    assert len(world["targets"]["cold at H=20 vs warm at H=5"]["cpu_by_round"]) == 2
    for mode in ("warm", "cold"):
        for history in ("5", "20"):
            measured = world[mode][history]
            assert measured["ms_per_step"] > 0
            assert len(measured["rounds"]) == 2
            assert measured["workflow_invocations"] >= 1


async def test_rounds_below_one_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        await history_bench.main(["--rounds", "0"])
    assert "--rounds must be at least 1" in capsys.readouterr().err
