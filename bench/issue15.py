"""Issue 15's figures from one run: every benchmark of `bench/`, then each "done when" line
with its limit, the figure measured and whether it is met.

Each part runs in its own interpreter (`python -m bench.<part> ...`), one after another, so a
part's memory, caches and threads do not colour the next; every comparison with a peer (DBOS +
SQLite, a raw S3 put+get, warm at H=50) is made inside its part, side by side, so the ratios
hold on a noisy machine even where the absolute times drift. Prints one JSON object:
`done_when` (the lines), `parts` (each part's own JSON report, its argv and seconds) and the
machine's load average before and after.

    .venv/bin/python -m bench.issue15              # everything: 8 minutes on a quiet machine
    .venv/bin/python -m bench.issue15 --quick      # every part, smaller sizes (~2 minutes)
    .venv/bin/python -m bench.issue15 --parts peer,cold_start
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

DEV, DEV_QUICK = ["--retain-runs", "1000"], ["--retain-runs", "50"]  # steplane dev's default

# part -> (full argv, quick argv) after `python -m bench.<module>`
PARTS: dict[str, tuple[str, list[str], list[str]]] = {
    "peer": (
        "peer_bench",
        ["--sides", "memory,moto,dbos", "--repeats", "5", "--steps", "200", "--zero-runs", "20"],
        ["--sides", "memory,moto,dbos", "--repeats", "1", "--steps", "50", "--zero-runs", "5"],
    ),
    "counts": (
        "engine_bench",
        ["--worlds", "aws", "--steps", "300", "--fanout", "1000", "--concurrency", "8"],
        ["--worlds", "aws", "--steps", "100", "--fanout", "100", "--concurrency", "8"],
    ),
    "history": (
        "history_bench",
        ["--worlds", "memory,aws", "--histories", "50,2000,5000", "--steps", "9", "--rounds", "3"],
        ["--worlds", "memory,aws", "--histories", "50,500", "--steps", "3", "--rounds", "1"],
    ),
    "payload": ("payload_bench", ["--mb", "50", "--rounds", "3"], ["--mb", "5", "--rounds", "1"]),
    "cold_start": ("cold_start_aws", ["--processes", "7"], ["--processes", "2"]),
    "long_sleep": ("long_sleep_bench", ["--days", "30"], ["--days", "2"]),
    "rss": (
        "rss_bench",
        ["--worlds", "aws", "--runs", "2000", "--every", "250", "--trace-runs", "0", *DEV],
        ["--worlds", "aws", "--runs", "200", "--every", "50", "--trace-runs", "0", *DEV_QUICK],
    ),
}


def run_part(module: str, argv: list[str], timeout: float) -> dict[str, Any]:
    """One part in a fresh interpreter; its JSON report (or why there is none)."""
    command = [sys.executable, "-m", f"bench.{module}", *argv]
    began = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"argv": command[2:], "error": f"timed out after {timeout:.0f} s"}
    seconds = round(time.perf_counter() - began, 1)
    found: dict[str, Any] = {"argv": command[2:], "seconds": seconds}
    start = done.stdout.find("{")
    try:
        found["report"] = json.loads(done.stdout[start:]) if start >= 0 else None
    except json.JSONDecodeError as error:
        found["error"] = f"no JSON report: {error}"
    if done.returncode != 0 or found.get("report") is None:
        found["error"] = found.get("error") or f"exit {done.returncode}"
        found["stderr_tail"] = done.stderr[-2000:]
    return found


def dig(report: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(report, dict) or key not in report:
            return None
        report = report[key]
    return report


def line(what: str, figure: Any, limit: str, met: Callable[[Any], bool]) -> dict[str, Any]:
    return {
        "line": what,
        "measured": figure,
        "limit": limit,
        "met": None if figure is None else bool(met(figure)),
    }


def done_when(parts: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 15's "done when" lines, read from the parts' reports (None where a part is
    missing or did not report the figure)."""
    report = {name: part.get("report") for name, part in parts.items()}
    lines = []
    for world in ("memory", "aws"):
        targets = dig(report.get("history"), "worlds", world, "targets") or {}
        for name, target in targets.items():
            lines.append(
                line(
                    f"{world}: {name} (CPU)",
                    target["cpu"],
                    f"<= {target['limit']}x",
                    lambda f, t=target: f <= t["limit"],
                )
            )
    inline = dig(report.get("counts"), "aws", "sequential_inline") or {}
    lines.append(
        line(
            "inline step: AWS calls per step",
            inline.get("aws_calls_per_step"),
            "<= 1.1",
            lambda f: f <= 1.1,
        )
    )
    lines.append(
        line(
            "inline step: durable writes per step",
            inline.get("aws_durable_writes_per_step"),
            "<= 1.0",
            lambda f: f <= 1.0,
        )
    )
    lines.append(  # the average above includes the run's own fixed writes (docs/performance.md)
        line(
            "inline step: durable writes per added step (one more step in the run)",
            inline.get("aws_durable_writes_per_added_step"),
            "<= 1.0",
            lambda f: f <= 1.0,
        )
    )
    ratios = dig(report.get("peer"), "ratios") or {}
    for name, limit in (
        ("moto_vs_dbos_per_step", 1.5),
        ("memory_vs_dbos_per_step", 0.2),
        ("moto_vs_dbos_zero_step_latency", 3.0),
    ):
        lines.append(line(name, ratios.get(name), f"<= {limit}x", lambda f, lim=limit: f <= lim))
    fan_out = dig(report.get("counts"), "aws", "parallel_fan_out") or {}
    steps = fan_out.get("steps")
    lines.append(
        line(
            f"{steps}-way fan-out on moto, concurrency 8: seconds",
            fan_out.get("seconds"),
            "< 30 (at 1,000)",
            lambda f: f < 30,
        )
    )
    lines.append(
        line(
            f"{steps}-way fan-out: AWS calls per step",
            fan_out.get("aws_calls_per_step"),
            "< 6",
            lambda f: f < 6,
        )
    )
    payload = dig(report.get("payload"), "raw") or {}
    lines.append(
        line(
            f"{(payload.get('value_bytes') or 0) / 2**20:.0f} MB bytes round trip vs raw S3",
            payload.get("ratio"),
            "<= 2x",
            lambda f: f <= 2,
        )
    )
    cold = dig(report.get("cold_start"), "this_tree", "median", "cold_start_ms")
    lines.append(line("Lambda-path cold start, ms", cold, "< 300", lambda f: f < 300))
    sleep = report.get("long_sleep") or {}
    lines.append(
        line(
            f"{sleep.get('days')}-day sleep: workflow invocations it adds",
            sleep.get("invocations_the_sleep_adds"),
            "<= 1 (hops load no run state)",
            lambda f: f <= 1 and sleep.get("run_state_reads_during_hops") == 0,
        )
    )
    rss = dig(report.get("rss"), "aws") or {}
    lines.append(
        line(
            "steplane dev (keeps 1,000 ended runs): RSS growth, last quarter of the runs, MB",
            rss.get("rss_growth_mb_last_quarter"),
            "<= 2.5 (5 KB a run: levelled off)",
            lambda f: f <= 2.5,
        )
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, every part")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"any of {', '.join(PARTS)}")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per part")
    options = parser.parse_args()
    names = options.parts.split(",")
    unknown = set(names) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}: use {', '.join(PARTS)}")
    load_before = os.getloadavg()
    parts: dict[str, dict[str, Any]] = {}
    for name in names:
        module, full, quick = PARTS[name]
        print(f"[issue15] {name}: bench.{module} ...", file=sys.stderr, flush=True)
        parts[name] = run_part(module, quick if options.quick else full, options.timeout)
        print(f"[issue15] {name}: {parts[name].get('seconds')} s", file=sys.stderr, flush=True)
    lines = done_when(parts)
    summary = {
        "quick": options.quick,
        "load_average_before": [round(x, 1) for x in load_before],
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
        "met": sum(1 for x in lines if x["met"]),
        "not_met": [x["line"] for x in lines if x["met"] is False],
        "not_measured": [x["line"] for x in lines if x["met"] is None],
        "done_when": lines,
        "parts": parts,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
