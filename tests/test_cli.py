"""The `steplane` CLI as a user runs it: `steplane dev` in the background, other commands from
other processes in the same directory, each error one line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STEPLANE = shutil.which("steplane", path=str(Path(sys.executable).parent)) or "steplane"


def steplane(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPLANE_")}
    return subprocess.run(
        [STEPLANE, *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env
    )


@pytest.fixture
def dev_dir(tmp_path: Path) -> Iterator[Path]:
    """`steplane dev examples.approval` running in the background from a fresh directory."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPLANE_")}
    process = subprocess.Popen(
        [STEPLANE, "dev", "examples.approval", "examples.checkout", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    state = tmp_path / ".steplane" / "dev.json"
    deadline = time.monotonic() + 60
    while not state.exists():
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, "steplane dev did not start"
        time.sleep(0.1)
    try:
        yield tmp_path
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert not state.exists()  # a clean stop removes the state file


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _api(dev_dir: Path, method: str, path: str, body: dict | None = None) -> dict:
    state = json.loads((dev_dir / ".steplane" / "dev.json").read_text())
    request = urllib.request.Request(
        state["api_url"] + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {state['api_key']}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _wait_status(dev_dir: Path, run_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while _api(dev_dir, "GET", f"/v1/runs/{run_id}")["status"] != status:
        assert time.monotonic() < deadline, f"{run_id} never became {status}"
        time.sleep(0.1)


@pytest.mark.slow
def test_dev_emulator_is_reachable_from_other_commands(dev_dir: Path) -> None:
    started = _api(dev_dir, "POST", "/v1/runs", {"workflow": "checkout", "args": ["o-9"]})
    run_id = started["run_id"]
    _wait_status(dev_dir, run_id, "completed")

    listed = steplane("runs", "list", "--json", cwd=dev_dir)
    assert listed.returncode == 0, listed.stderr
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [run_id]

    shown = json.loads(steplane("runs", "show", run_id, "--json", "--decrypt", cwd=dev_dir).stdout)
    assert shown["status"] == "completed" and shown["outcome"]["status"] == "paid"

    sealed = json.loads(steplane("runs", "events", run_id, "--json", cwd=dev_dir).stdout)
    assert "o-9" not in json.dumps(sealed)  # ciphertext without --decrypt
    opened = json.loads(
        steplane("runs", "events", run_id, "--json", "--decrypt", cwd=dev_dir).stdout
    )
    assert opened[0]["data"]["args"] == ["o-9"]

    approval = _api(dev_dir, "POST", "/v1/runs", {"workflow": "approval", "args": ["inv-5", 10]})
    _wait_status(dev_dir, approval["run_id"], "running")
    deadline = time.monotonic() + 30
    while True:
        resumed = steplane(
            "hooks", "resume", "approval:inv-5", '{"approved": false, "by": "kim"}', cwd=dev_dir
        )
        if resumed.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # the hook is created right after the run starts
    assert resumed.returncode == 0, resumed.stderr
    _wait_status(dev_dir, approval["run_id"], "completed")

    waiting = _api(dev_dir, "POST", "/v1/runs", {"workflow": "approval", "args": ["inv-6", 10]})
    _wait_status(dev_dir, waiting["run_id"], "running")
    cancelled = steplane("runs", "cancel", waiting["run_id"], cwd=dev_dir)
    assert cancelled.stdout.strip() == f"{waiting['run_id']}: cancelled"
    failed = json.loads(
        steplane("runs", "list", "--status", "cancelled", "--json", cwd=dev_dir).stdout
    )
    assert [r["run_id"] for r in failed] == [waiting["run_id"]]


def test_commands_without_a_world_say_so_in_one_line(tmp_path: Path) -> None:
    done = steplane("runs", "list", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: ConfigurationError: no World to talk to: start `steplane dev MODULE` in this "
        "directory, or set STEPLANE_WORLD=aws (with the AWS variables) or STEPLANE_STACK"
    ]
    bad = steplane("hooks", "resume", "token", "{not json", cwd=tmp_path)
    assert bad.returncode == 2 and "PAYLOAD_JSON" in bad.stderr
