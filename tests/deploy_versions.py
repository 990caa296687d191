"""Two versions of one workflow module, for the deployment-pinning tests: `write_versions(dir)`
writes `v1/<module>.py` and `v2/<module>.py` (same module name, different code), so a test can
load one in process or hand each directory to a host process of its own.

- `pinned_sleeper` sleeps between two steps; v2 changes what the steps and the workflow return
  but not the order of its calls, so a run of v1 replays on v2 ("upgradable").
- `pinned_hook` waits on a hook; v2 returns another shape.
- `pinned_fanout` fans out `n` steps that each wait for a file to appear (so a test can deploy
  v2 while they are in flight), then returns their results.
- `pinned_diverger`: v2 calls another step first, so a v1 run diverges at its first step.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

COMMON = """
import asyncio, os, time
from steplane.runtime import create_hook, sleep, step, workflow

VERSION = "{version}"


@step
async def greet(name: str) -> str:
    return f"{{VERSION}} hello {{name}}"


@step
async def shout(text: str) -> str:
    return f"{{VERSION}}:" + text.upper()


@step
def gated(gate: str, i: int) -> str:
    deadline = time.monotonic() + 60
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.05)
    return f"{{VERSION}}-part{{i}}"


@workflow(name="pinned_sleeper")
async def pinned_sleeper(name: str, seconds: float = 1.0) -> dict:
    a = await greet(name)
    await sleep(seconds)
    return {{"a": a, "b": await shout(a), "version": VERSION}}


@workflow(name="pinned_hook")
async def pinned_hook(token: str) -> dict:
    hook = create_hook(token=token)
    payload = await hook
    return {{"got": payload, "version": VERSION}}


@workflow(name="pinned_fanout")
async def pinned_fanout(gate: str, n: int = 3) -> dict:
    parts = await asyncio.gather(*(gated(gate, i) for i in range(n)))
    return {{"parts": list(parts), "version": VERSION}}
"""

DIVERGER = {
    "v1": """

@workflow(name="pinned_diverger")
async def pinned_diverger(name: str, seconds: float = 1.0) -> dict:
    a = await greet(name)
    await sleep(seconds)
    return {"a": a, "version": VERSION}
""",
    "v2": """

@workflow(name="pinned_diverger")
async def pinned_diverger(name: str, seconds: float = 1.0) -> dict:
    a = await shout(name)
    await sleep(seconds)
    return {"a": a, "version": VERSION}
""",
}


def source(version: str) -> str:
    return textwrap.dedent(COMMON.format(version=version)) + DIVERGER[version]


def write_versions(directory: Path, module: str) -> dict[str, Path]:
    """`{"v1": dir1, "v2": dir2}`, each holding `<module>.py` of that version."""
    paths = {}
    for version in ("v1", "v2"):
        folder = directory / version
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{module}.py").write_text(source(version))
        paths[version] = folder
    return paths


def load(folder: Path, module: str) -> ModuleType:
    """Import (or re-import, replacing) `module` from `folder` in this process."""
    spec = importlib.util.spec_from_file_location(module, folder / f"{module}.py")
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[module] = loaded
    spec.loader.exec_module(loaded)
    return loaded
