"""The chaos harness, short: host kills, double delivery and injected AWS faults on the Lambda
path against a moto server, then recovery. No run may be left unfinished or wrong.

The full run (100+ runs, 3 hosts, a minute of chaos) is `python -m bench.chaos`; see
bench/chaos/driver.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_short_chaos_leaves_no_run_unfinished_and_no_log_wrong() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.chaos",
            "--json-only",
            "--runs",
            "16",
            "--hosts",
            "2",
            "--chaos-seconds",
            "12",
            "--kill-every",
            "3",
            "--fault-rate",
            "0.1",
            "--settle-seconds",
            "120",
            "--seed",
            "3",
        ],
        cwd=REPO,
        capture_output=True,
        timeout=380,
    )
    report = json.loads(done.stdout)
    assert report["host_kills"] >= 3
    assert sum(report["faults_injected"].values()) > 0
    assert report["non_terminal"] == []
    assert report["duplicated_events"] == {}
    assert report["missing_events"] == {}
    assert report["wrong_results"] == {}
    assert "error" not in report["reconcile"], report["reconcile"]
    assert report["statuses"].get("completed", 0) >= report["runs"] // 2, report
    assert done.returncode == 0, done.stderr.decode()[-2000:]
