"""steplane's packages are `steplane.runtime`, `steplane.adapters`, `steplane.local_emulator`
and `steplane.infra`; the bare names are aliases that never shadow a project's own packages.

A user's project often has its own `infra/` (CDK, Terraform) or `adapters/`: run from its
root, `steplane run`, `steplane deploy` and the Lambda handler use ours, and `import infra`
gives the project its own. Each runs in a fresh interpreter from the project's folder, as a
user runs it (`python -m steplane` is the `steplane` command).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

import steplane
import steplane.runtime
from infra import deploy as deploy_module
from steplane.aliases import PACKAGES
from tests.conftest import FAKE_AWS_ENV, MotoServer

ROOT = Path(__file__).resolve().parents[1]

ORDERS = '''
"""A project's workflow, with the documented imports, beside the project's own packages."""
import adapters
import infra
from runtime import step, workflow


@step
async def owners() -> dict:
    return {"infra": infra.OWNER, "adapters": adapters.OWNER}


@workflow
async def place(order_id: str) -> dict:
    return {"order": order_id, **(await owners())}
'''

OWN_PACKAGE = '''
"""The project's own package, not steplane's."""
OWNER = "project"
'''

TRAP = """
raise ImportError("steplane imported the project's own {name}")
"""


def python(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter in `cwd` (first on sys.path), steplane importable from this tree."""
    variables = {k: v for k, v in os.environ.items() if not k.startswith("STEPLANE_")}
    variables["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**variables, **env},
    )


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with its own `infra/` and `adapters/` packages, whose modules named like
    ours (`infra.deploy`, `adapters.lambda_handler`) fail loudly if steplane imports them."""
    for package in ("infra", "adapters"):
        write(tmp_path / package / "__init__.py", OWN_PACKAGE)
    write(tmp_path / "infra" / "deploy.py", TRAP.format(name="infra.deploy"))
    write(tmp_path / "adapters" / "lambda_handler.py", TRAP.format(name="adapters.lambda_handler"))
    write(tmp_path / "orders.py", ORDERS)
    return tmp_path


# --- one module object per module -------------------------------------------------------------


def test_a_bare_name_is_the_steplane_module_itself() -> None:
    import local_emulator
    import runtime
    import runtime.errors
    from runtime import FatalError

    assert runtime is steplane.runtime
    assert FatalError is steplane.runtime.FatalError  # one class: `except FatalError` works
    assert runtime.errors is sys.modules["steplane.runtime.errors"]
    assert local_emulator.Emulator is sys.modules["steplane.local_emulator"].Emulator


def test_no_module_of_ours_is_loaded_twice() -> None:
    """This process imported our packages by their bare names (tests, conftest) and by
    `steplane.` names (our own code): every bare entry is the `steplane.` module."""
    bare = [name for name in sys.modules if name.partition(".")[0] in PACKAGES]
    assert bare
    twins = [name for name in bare if sys.modules[name] is not sys.modules.get(f"steplane.{name}")]
    assert twins == []


def test_a_bare_import_before_steplane_is_adopted(tmp_path: Path) -> None:
    """An interpreter where nothing imported steplane first (a checkout on PYTHONPATH, no
    steplane.pth): the bare import still ends up as the `steplane.` module, never a copy."""
    code = textwrap.dedent(
        """
        import sys
        sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "AliasFinder"]
        for name in [n for n in sys.modules if n == "steplane" or n.startswith("steplane.")]:
            del sys.modules[name]
        import runtime.errors
        from local_emulator import Emulator
        import steplane.runtime.errors
        bare = [n for n in sys.modules if n.partition(".")[0] in ("runtime", "local_emulator")]
        print(sorted(n for n in bare if sys.modules[n] is not sys.modules.get("steplane." + n)))
        print(runtime.errors is steplane.runtime.errors, Emulator.__module__)
        """
    )
    done = python("-c", code, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True steplane.local_emulator.emulator"]


def test_our_code_names_our_modules_only_by_their_steplane_names() -> None:
    """A bare name in our own code would be the project's package wherever it has one."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    names = [node.value] if re.match(r"\w+[.:]\w", node.value) else []
                else:
                    continue
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in _bare(names)]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"scripts": project.get("scripts", {}), **project.get("entry-points", {})}
    for group, entries in groups.items():  # console scripts, Worlds by name, ...
        found += [f"pyproject.toml [{group}]: {n}" for n in _bare(entries.values())]
    assert found == []


def _bare(names: Iterable[str]) -> list[str]:
    return [name for name in names if re.split(r"[.:]", name)[0] in PACKAGES]


# --- a project with packages of the same names ------------------------------------------------


def test_the_project_imports_its_own_packages(project: Path) -> None:
    write(project / "runtime" / "__init__.py", OWN_PACKAGE)
    code = (
        "import adapters, infra, runtime, steplane.runtime; "
        "print(adapters.OWNER, infra.OWNER, runtime.OWNER, steplane.runtime.workflow.__module__)"
    )
    done = python("-c", code, cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["project", "project", "project", "steplane.runtime.registry"]


def test_steplane_run_from_the_project_root(project: Path) -> None:
    done = python("-m", "steplane", "run", "--world", "memory", "orders:place", "o-1", cwd=project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"order": "o-1", "infra": "project", "adapters": "project"}


def test_steplane_run_when_the_project_has_its_own_runtime_package(project: Path) -> None:
    """The bare `runtime` is then the project's; the workflow imports `steplane.runtime`."""
    write(project / "runtime" / "__init__.py", OWN_PACKAGE)
    write(
        project / "ledger.py",
        """
        import runtime
        from steplane.runtime import step, workflow

        @step
        async def owner() -> str:
            return runtime.OWNER

        @workflow
        async def post(entry: str) -> dict:
            return {"entry": entry, "runtime": await owner()}
        """,
    )
    done = python("-m", "steplane", "run", "ledger:post", "e-1", cwd=project)  # on embedded AWS
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"entry": "e-1", "runtime": "project"}


def test_the_lambda_handler_with_the_project_first_on_sys_path(project: Path) -> None:
    """Lambda imports the template's handler path, with the function's folder first on
    sys.path and no site-packages .pth run: the handler processes the run's messages."""
    script = """
        import asyncio, importlib, json
        from steplane.infra.template import HANDLER
        module, _, name = HANDLER.rpartition(".")
        handler = getattr(importlib.import_module(module), name)  # as Lambda's bootstrap does

        import adapters, infra, orders
        from steplane.adapters.memory import MemoryWorld
        from steplane.runtime import set_world, start

        def record(delivery):
            return {
                "eventSource": "aws:sqs",
                "messageId": delivery.message_id,
                "receiptHandle": delivery.receipt,
                "body": json.dumps(delivery.body),
                "attributes": {"ApproximateReceiveCount": str(delivery.receive_count)},
            }

        async def main():
            world = MemoryWorld()
            set_world(world)
            run = await start(orders.place, "o-7")
            while deliveries := await world.queue.receive():
                event = {"Records": [record(d) for d in deliveries]}
                assert await asyncio.to_thread(handler, event, None) == {"batchItemFailures": []}
            print(json.dumps([HANDLER, await run.result(timeout=5), infra.OWNER, adapters.OWNER]))

        asyncio.run(main())
    """
    write(project / "invoke.py", script)
    done = python("invoke.py", cwd=project, STEPLANE_MODULES="orders")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        "steplane.adapters.lambda_handler.handler",
        {"order": "o-7", "infra": "project", "adapters": "project"},
        "project",
        "project",
    ]


@pytest.fixture
def endpoint(moto_server: MotoServer) -> Iterator[str]:
    url = moto_server.start()
    moto_server.reset()
    yield url


def test_steplane_deploy_from_the_project_root(project: Path, endpoint: str) -> None:
    done = python(
        *("-m", "steplane", "deploy", "--stack", "shop", "orders", "--endpoint-url", endpoint),
        cwd=project,
        **FAKE_AWS_ENV,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changed"] is True
    [code] = re.findall(r"code: (\w+\.zip)", done.stderr)
    names = zipfile.ZipFile(deploy_module.CACHE / "zips" / code).namelist()
    # Ours under steplane/, the project's workflow module, none of the project's packages.
    assert {"steplane/adapters/lambda_handler.py", "steplane/aliases.py", "orders.py"} <= set(names)
    assert not any(name.startswith(("infra/", "adapters/", "runtime/")) for name in names)
