"""The chaos driver: one moto server, N host processes on the Lambda path, M runs, chaos, then
recovery, then a check of every run's log. Prints one JSON report.

    .venv/bin/python -m bench.chaos --runs 100 --hosts 3 --chaos-seconds 60

Phases:
1. chaos (`--chaos-seconds`): hosts with `--fault-rate` injected AWS faults (half before the
   call, half "lost responses" after it was applied), every message delivered twice, and a
   random host SIGKILLed (and restarted) every `--kill-every` seconds;
2. recovery: all hosts replaced by fault-free ones without duplication; once the queue is
   quiet, the dead-letter queue is redriven and one reconcile pass runs (the Lambda handler
   given an EventBridge Scheduled Event, in a process of its own);
3. settle (`--settle-seconds` at most) until every run is terminal, then every log is checked.

The report counts runs by status and failure code, runs left non-terminal, duplicated and
missing events, wrong results, and step executions beyond one per step (from the ledger the
steps write). Exit 0 when no run is left non-terminal and no log or result is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..moto_process import start_moto_server
from .verify import check_run

REPO = Path(__file__).resolve().parents[2]
PREFIX = "chaos"
SCHEDULED_EVENT = {
    "version": "0",
    "id": "chaos-reconcile",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "detail": {},
}


class Hosts:
    """The host processes, replaceable one at a time."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.kills = 0
        self._spawned = 0

    def spawn(self, *, fault_rate: float, duplicate: bool) -> None:
        self._spawned += 1
        command = [sys.executable, "-m", "bench.chaos.host", "--seed", str(self._spawned)]
        if fault_rate:
            faults = str(self.workdir / "faults.txt")
            command += ["--fault-rate", str(fault_rate), "--faults-file", faults]
        if duplicate:
            command.append("--duplicate")
        log = open(self.workdir / f"host-{self._spawned}.log", "wb")  # noqa: SIM115
        self.processes.append(
            subprocess.Popen(command, env=self.env, cwd=REPO, stdout=log, stderr=log)
        )

    def kill_one(self, rng: random.Random) -> None:
        victim = self.processes.pop(rng.randrange(len(self.processes)))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        self.kills += 1

    def stop_all(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGKILL)
            process.wait()
        self.processes.clear()


def _reconcile(env: dict[str, str]) -> dict[str, Any]:
    """One reconcile pass through the production entry point, in a fresh process."""
    code = (
        "import json, sys; from adapters.lambda_handler import handler; "
        f"print(json.dumps(handler({SCHEDULED_EVENT!r}, None), default=str))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, timeout=300
    )
    if done.returncode != 0:
        last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        return {"error": last[0]}
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


async def _statuses(world: Any, run_ids: list[str]) -> dict[str, str]:
    records = await asyncio.gather(*(world.runs.get(r) for r in run_ids))
    return {
        r: (rec.status.value if rec else "missing") for r, rec in zip(run_ids, records, strict=True)
    }


async def _wait_until(condition: Any, seconds: float, step: float = 1.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(step)
    return False


async def chaos(args: argparse.Namespace) -> dict[str, Any]:
    from adapters.aws import AwsWorld
    from local_emulator.aws.stack import create_storage_stack_at
    from runtime import get_run, set_world, start

    from .workflow import LEDGER_ENV, chaos_order

    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="steplane-chaos-"))
    moto, url = start_moto_server()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "STEPLANE_WORLD": "aws",
        "STEPLANE_STACK": PREFIX,  # the hosts read the resources' names from its outputs
        "STEPLANE_MODULES": "bench.chaos.workflow",
        "STEPLANE_STALL_SECONDS": str(args.stall_seconds),
        "STEPLANE_LOG_LEVEL": "WARNING",
        LEDGER_ENV: str(workdir / "ledger.txt"),
    }
    hosts = Hosts(env, workdir)
    began = time.monotonic()
    try:
        config = create_storage_stack_at(url, PREFIX, prefix=PREFIX, max_receives=args.max_receives)
        world = AwsWorld(config)  # the production World: the hosts consume its queue
        set_world(world)
        for _ in range(args.hosts):
            hosts.spawn(fault_rate=args.fault_rate, duplicate=args.duplicate)
        inputs = {}
        for n in range(args.runs):
            inputs[(await start(chaos_order, n)).run_id] = n
        run_ids = list(inputs)
        progress(args, f"{args.runs} runs started; chaos for {args.chaos_seconds}s")

        deadline = time.monotonic() + args.chaos_seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(min(args.kill_every, max(0.0, deadline - time.monotonic())))
            if args.kill_every and time.monotonic() < deadline:
                hosts.kill_one(rng)
                hosts.spawn(fault_rate=args.fault_rate, duplicate=args.duplicate)
        chaos_statuses = collections.Counter((await _statuses(world, run_ids)).values())

        hosts.stop_all()
        hosts.kills += args.hosts
        for _ in range(args.hosts):
            hosts.spawn(fault_rate=0.0, duplicate=False)
        progress(args, f"recovery: fault-free hosts; after chaos {dict(chaos_statuses)}")

        async def all_terminal() -> bool:
            statuses = await _statuses(world, run_ids)
            return all(s in ("completed", "failed", "cancelled") for s in statuses.values())

        async def quiet() -> bool:
            return await asyncio.to_thread(world.queue.depth) == 0 or await all_terminal()

        await _wait_until(quiet, args.settle_seconds / 2)
        redriven = await asyncio.to_thread(world.queue.redrive)
        await asyncio.sleep(args.stall_seconds + 1)  # let stalled runs age past the threshold
        reconcile = _reconcile(env)
        progress(args, f"redrove {redriven}; reconcile pass: {reconcile}")
        await _wait_until(all_terminal, args.settle_seconds / 2)
        hosts.stop_all()

        statuses = await _statuses(world, run_ids)
        checks = []
        for run_id in run_ids:
            events = await get_run(run_id).events()
            checks.append(check_run(run_id, inputs[run_id], statuses[run_id], events))
        await world.close()
    finally:
        hosts.stop_all()
        moto.kill()
        moto.wait()
    return _report(args, checks, hosts, workdir, redriven, reconcile, time.monotonic() - began)


def _report(
    args: argparse.Namespace,
    checks: list[Any],
    hosts: Hosts,
    workdir: Path,
    redriven: int,
    reconcile: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    from .workflow import STEPS_PER_RUN

    ledger = workdir / "ledger.txt"
    executions = collections.Counter(ledger.read_text().split()) if ledger.exists() else {}
    faults_file = workdir / "faults.txt"
    faults = (
        collections.Counter(line.split()[0] for line in faults_file.read_text().splitlines())
        if faults_file.exists()
        else {}
    )
    steps = len(executions)
    extra = sum(executions.values()) - steps
    failures = collections.Counter(
        (c.failure or "").split(":")[0] for c in checks if c.status == "failed"
    )
    terminal = ("completed", "failed", "cancelled")
    return {
        "runs": len(checks),
        "hosts": args.hosts,
        "statuses": dict(collections.Counter(c.status for c in checks)),
        "failed_by_code": dict(failures),
        "non_terminal": [c.run_id for c in checks if c.status not in terminal],
        "duplicated_events": {c.run_id: c.duplicated for c in checks if c.duplicated},
        "missing_events": {c.run_id: c.missing for c in checks if c.missing},
        "wrong_results": {c.run_id: c.wrong_result for c in checks if c.wrong_result},
        "failure_samples": sorted({c.failure for c in checks if c.failure})[:5],
        "steps_executed": steps,
        "steps_expected_if_all_completed": len(checks) * STEPS_PER_RUN,
        "step_executions": sum(executions.values()),
        "extra_executions_per_step": round(extra / steps, 4) if steps else 0.0,
        "host_kills": hosts.kills,
        "faults_injected": dict(faults),
        "dlq_redriven": redriven,
        "reconcile": reconcile,
        "seconds": round(seconds, 1),
        "workdir": str(workdir),
    }


def progress(args: argparse.Namespace, line: str) -> None:
    if not args.json_only:
        print(f"[chaos] {line}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--chaos-seconds", type=float, default=60.0)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--no-duplicate", dest="duplicate", action="store_false")
    parser.add_argument("--max-receives", type=int, default=5)
    parser.add_argument("--stall-seconds", type=float, default=5.0)
    parser.add_argument("--settle-seconds", type=float, default=240.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args(argv)
    report = asyncio.run(chaos(args))
    print(json.dumps(report, indent=2))
    healthy = not (
        report["non_terminal"]
        or report["duplicated_events"]
        or report["missing_events"]
        or report["wrong_results"]
    )
    return 0 if healthy else 1
