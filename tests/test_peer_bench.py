"""`python -m bench.peer_bench` keeps working: its steplane half at tiny sizes, with the DBOS
side (a venv of its own, installed from PyPI) replaced by fixed figures, so no venv, no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import peer_bench

TINY = ["--steps", "3", "--zero-runs", "2", "--repeats", "2"]


def report_of(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    peer_bench.main([*argv, *TINY])
    return json.loads(capsys.readouterr().out)


def no_dbos_venv() -> Path:
    raise AssertionError("the DBOS venv was asked for, but no side needs it")


def test_steplane_sides_alone_need_no_dbos_venv(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peer_bench, "peer_python", no_dbos_venv)
    report = report_of(capsys, "--sides", "memory")
    assert (report["steps"], report["zero_runs"], report["repeats"]) == (3, 2, 2)
    assert set(report["median_ms"]) == {"memory"}
    assert report["ratios"] == {}
    assert len(report["rounds"]["memory"]) == 2
    for figures in [report["median_ms"]["memory"], *report["rounds"]["memory"]]:
        assert set(figures) == {"per_step_ms", "zero_step_latency_ms"}
        assert all(ms > 0 for ms in figures.values())


@pytest.mark.slow
def test_ratios_against_dbos_are_ratios_of_the_medians(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dbos_calls: list[tuple[int, int]] = []

    def dbos_round(python: Path, steps: int, zero_runs: int, sqlite_dir: str | None) -> Any:
        dbos_calls.append((steps, zero_runs))
        figures = {"per_step_ms": 2.0, "zero_step_latency_ms": 4.0}
        return figures | {"dbos_version": "3.x", "sqlite_dir": "/dev/shm"}

    monkeypatch.setattr(peer_bench, "peer_python", lambda: Path("python"))
    monkeypatch.setattr(peer_bench, "dbos_round", dbos_round)
    report = report_of(capsys)
    assert dbos_calls == [(3, 2), (3, 2)]
    medians = report["median_ms"]
    assert set(medians) == {"memory", "moto", "dbos"}
    assert report["dbos_setup"] == {"dbos_version": "3.x", "sqlite_dir": "/dev/shm"}
    assert report["ratios"] == {
        "moto_vs_dbos_per_step": round(medians["moto"]["per_step_ms"] / 2.0, 2),
        "memory_vs_dbos_per_step": round(medians["memory"]["per_step_ms"] / 2.0, 2),
        "moto_vs_dbos_zero_step_latency": round(medians["moto"]["zero_step_latency_ms"] / 4.0, 2),
        "memory_vs_dbos_zero_step_latency": round(
            medians["memory"]["zero_step_latency_ms"] / 4.0, 2
        ),
    }
    assert all(len(report["rounds"][side]) == 2 for side in medians)
