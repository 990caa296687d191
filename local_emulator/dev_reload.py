"""`steplane dev --reload`: several deployments side by side, one process each, as on AWS.

The dev process serves the moto server, the HTTP app and this loop; it runs no workflow code
itself. Each version of the code is a *deployment*: a snapshot of the workflow modules' files
under `.steplane/deployments/ID/` (ID: `d-` and a hash of those files), a work queue of its own
in the dev stack (the stack is updated as `steplane deploy` updates one: infra/template.py) and
a host process (local_emulator/version_host.py) that imports that snapshot and only it. So two
versions of one module coexist, each in its own process.

Every `POLL_SECONDS` the loop hashes the modules' files. On a change it snapshots them as a new
deployment, starts its host, and from then on the HTTP app starts runs on it (the dev process
re-imports the modules from the snapshot, for the app's argument checks and names). Runs in
flight stay on the deployment that started them: their messages go to that deployment's
queue. Every line a host prints is tagged `[ID]`, so the terminal shows which code ran what.
A deployment other than the newest whose runs have all ended is drained: its host stops.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steplane.runtime.deployment import set_deployment_id
from steplane.runtime.engine.upgrade import live_runs_by_deployment
from steplane.runtime.world import World

from .cli_deployments import deployment_code_dir

POLL_SECONDS = 0.5
DRAIN_CHECK_SECONDS = 5.0
Say = Callable[[str], None]


def module_files(module: str, root: Path) -> dict[str, Path]:
    """The files of the top-level package (or single module) that holds `module`, under
    `root`, by their path relative to it."""
    top = module.split(".")[0]
    package, single = root / top, root / f"{top}.py"
    if package.is_dir():
        return {
            str(p.relative_to(root)): p
            for p in sorted(package.rglob("*.py"))
            if "__pycache__" not in p.parts
        }
    if single.is_file():
        return {single.name: single}
    raise FileNotFoundError(f"no module {top!r} in {root} (steplane dev --reload watches it)")


def code_hash(files: dict[str, Path]) -> str:
    """The deployment id of these files' current contents."""
    digest = hashlib.sha256()
    for name, path in sorted(files.items()):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "d-" + digest.hexdigest()[:12]


@dataclass
class Reloader:
    """The deployments of one `steplane dev --reload` session (module docstring)."""

    modules: list[str]
    world: World
    env: dict[str, str]
    """The environment of the host processes (the dev stack's, the moto server's address)."""
    update_stack: Callable[[list[str]], None]
    """Make the dev stack keep exactly these deployments (blocking)."""
    say: Say
    root: Path = field(default_factory=Path.cwd)
    hosts: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    newest: str | None = None

    def snapshot(self) -> str:
        """Copy the modules' files as a deployment (once per content); its id."""
        files: dict[str, Path] = {}
        for module in self.modules:
            files |= module_files(module, self.root)
        deployment = code_hash(files)
        target = deployment_code_dir(deployment)
        if not target.is_dir():
            partial = target.with_name(target.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            for name, path in files.items():
                (partial / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, partial / name)
            partial.replace(target)
        return deployment

    async def deploy(self, deployment: str) -> None:
        """Make `deployment` the newest: its queue, its host, the app's starts."""
        live = [*self.hosts, deployment] if deployment not in self.hosts else list(self.hosts)
        await asyncio.to_thread(self.update_stack, live)
        if deployment not in self.hosts:
            self.hosts[deployment] = self._start_host(deployment)
        self._import(deployment)
        set_deployment_id(deployment)
        previous, self.newest = self.newest, deployment
        if previous is None:
            self.say(f"steplane dev: deployment {deployment}: new runs start on it")
        else:
            self.say(
                f"steplane dev: code changed: new runs start on deployment {deployment}; "
                f"runs in flight stay on theirs ({previous} and older)"
            )

    async def run(self) -> None:
        """Watch the code until cancelled; stop the hosts on the way out."""
        try:
            await self.deploy(self.snapshot())
            since_drain_check = 0.0
            while True:
                await asyncio.sleep(POLL_SECONDS)
                try:
                    deployment = self.snapshot()
                except (OSError, FileNotFoundError) as error:  # mid-save: look again
                    self.say(f"steplane dev: cannot read the code ({error})")
                    continue
                if deployment != self.newest:
                    await self.deploy(deployment)
                since_drain_check += POLL_SECONDS
                if since_drain_check >= DRAIN_CHECK_SECONDS:
                    since_drain_check = 0.0
                    await self.drain()
        finally:
            self.stop()

    async def drain(self) -> None:
        """Stop the hosts of older deployments that have no live run left."""
        counts = await live_runs_by_deployment(self.world)
        for deployment in [d for d in self.hosts if d != self.newest and not counts.get(d)]:
            self._stop_host(deployment)
            self.say(f"steplane dev: deployment {deployment} drained (no live runs): stopped")
        await asyncio.to_thread(self.update_stack, list(self.hosts))

    def stop(self) -> None:
        for deployment in list(self.hosts):
            self._stop_host(deployment)

    # --- internals -------------------------------------------------------------------------

    def _start_host(self, deployment: str) -> subprocess.Popen[bytes]:
        code = deployment_code_dir(deployment)
        env = self.env | {
            "STEPLANE_MODULES": ",".join(self.modules),
            "PYTHONPATH": os.pathsep.join([str(code), *_steplane_path()]),
        }
        command = [sys.executable, "-m", "steplane.local_emulator.version_host"]
        command += ["--deployment", deployment, "--label", deployment]
        return subprocess.Popen(command, env=env, cwd=code)  # its lines go to our terminal

    def _stop_host(self, deployment: str) -> None:
        process = self.hosts.pop(deployment)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _import(self, deployment: str) -> None:
        """Re-import the modules from the snapshot (replacing the registered definitions)."""
        code = deployment_code_dir(deployment)
        for module in self.modules:
            relative = Path(*module.split("."))
            path = code / relative.with_suffix(".py")
            if not path.is_file():
                path = code / relative / "__init__.py"
            spec = importlib.util.spec_from_file_location(module, path)
            assert spec is not None and spec.loader is not None
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[module] = loaded
            spec.loader.exec_module(loaded)


def _steplane_path() -> list[str]:
    """Where this process imports steplane from, for the host processes."""
    import steplane

    return [str(Path(next(iter(steplane.__path__))).parent)]


def stack_updater(cloudformation: Any, stack: str, parameters: dict[str, str]) -> Callable:  # type: ignore[type-arg]
    """`update_stack(deployments)` for the dev stack: the template with those deployments."""
    from steplane.infra.template import build_template, live_deployments, render

    def update(deployments: list[str]) -> None:
        body = cloudformation.get_template(StackName=stack)["TemplateBody"]
        current = live_deployments(body if isinstance(body, dict) else json.loads(body))
        if current == deployments:
            return
        cloudformation.update_stack(
            StackName=stack,
            TemplateBody=render(build_template(deployments)),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM"],
        )

    return update
