"""`steplane dev --reload` as a user runs it: editing a workflow file while a run sleeps starts
a new deployment; the sleeping run ends on the old code, a new run uses the new code, and the
terminal says which deployment ran what. `steplane deployments list` and `replay-check` run
from the same directory against the same session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from local_emulator.cli_deployments import deployment_code_dir
from local_emulator.dev_reload import Reloader
from tests import deploy_versions
from tests.test_cli import STEPLANE, _api, _free_port, steplane

STARTUP_SECONDS = 90


def _wait_for(predicate, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _events(dev_dir: Path, run_id: str) -> list[dict]:
    return _api(dev_dir, "GET", f"/v1/runs/{run_id}/events")["events"]


def test_a_snapshot_per_version_of_the_code(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The bounded part of the test below: each version of the watched files becomes its own
    deployment directory, and the old one keeps the old code."""
    monkeypatch.setenv("STEPLANE_DEV_STATE", str(tmp_path / ".steplane" / "dev.json"))
    (tmp_path / "pinwf.py").write_text(deploy_versions.source("v1"))
    reloader = Reloader(["pinwf"], world=None, env={}, update_stack=print, say=print, root=tmp_path)  # type: ignore[arg-type]
    first = reloader.snapshot()
    assert reloader.snapshot() == first  # unchanged code: the same deployment
    (tmp_path / "pinwf.py").write_text(deploy_versions.source("v2"))
    second = reloader.snapshot()
    assert second != first
    assert 'VERSION = "v1"' in (deployment_code_dir(first) / "pinwf.py").read_text()
    assert 'VERSION = "v2"' in (deployment_code_dir(second) / "pinwf.py").read_text()
    with pytest.raises(FileNotFoundError, match="no module 'missing'"):
        Reloader(["missing"], None, {}, print, print, root=tmp_path).snapshot()  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_code_change_starts_a_new_deployment_and_old_runs_stay_on_theirs(
    tmp_path: Path,
) -> None:
    source = tmp_path / "pinwf.py"
    source.write_text(deploy_versions.source("v1"))
    log = tmp_path / "dev.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPLANE_")}
    command = [STEPLANE, "dev", "pinwf", "--reload", "--port", str(_free_port())]
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    state = tmp_path / ".steplane" / "dev.json"

    def serving(count: int) -> bool:
        assert process.poll() is None, log.read_text()
        return state.exists() and log.read_text().count("serving d-") >= count

    try:
        _wait_for(lambda: serving(1), "the first deployment", STARTUP_SECONDS)
        old = _api(
            tmp_path, "POST", "/v1/runs", {"workflow": "pinned_sleeper", "args": ["ann", 10]}
        )
        old_id = old["run_id"]
        _wait_for(
            lambda: any(e["type"] == "wait_created" for e in _events(tmp_path, old_id)),
            "the old run to sleep",
        )
        source.write_text(deploy_versions.source("v2"))  # the edit, while it sleeps
        _wait_for(lambda: serving(2), "the new deployment")
        assert "code changed: new runs start on deployment" in log.read_text()

        old_record = _api(tmp_path, "GET", f"/v1/runs/{old_id}")
        listed = steplane("deployments", "list", "--json", cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert len(rows) == 2 and rows[0]["deployment"] == old_record["deployment"]
        assert [(r["live_runs"], r["newest"]) for r in rows] == [(1, False), (0, True)]

        new = _api(tmp_path, "POST", "/v1/runs", {"workflow": "pinned_sleeper", "args": ["bob", 0]})
        new_id = new["run_id"]
        new_record = _api(tmp_path, "GET", f"/v1/runs/{new_id}")
        assert old_record["deployment"] != new_record["deployment"]
        assert old_record["status"] == "running"  # still asleep

        checked = steplane(
            "replay-check", "--deployment", new_record["deployment"], "--module", "pinwf",
            "--runs", old_id, "--json", cwd=tmp_path,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stderr
        assert [r["ok"] for r in json.loads(checked.stdout)] == [True]

        results = {
            run_id: _api(tmp_path, "GET", f"/v1/runs/{run_id}/result?timeout=30")
            for run_id in (old_id, new_id)
        }
        assert results[old_id]["result"] == {
            "a": "v1 hello ann",
            "b": "v1:V1 HELLO ANN",
            "version": "v1",
        }
        assert results[new_id]["result"]["version"] == "v2"
        terminal = log.read_text()
        assert f"[{old_record['deployment']}] workflow {old_id}" in terminal
        assert f"[{new_record['deployment']}] workflow {new_id}" in terminal
        assert f"[{new_record['deployment']}] workflow {old_id}" not in terminal
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
