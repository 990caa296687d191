"""steplane as a user installs it: a wheel, `pip install steplane` with no extra, in a fresh
virtual environment, used from a project that has its own `infra/` and `adapters/`.

The base install runs workflows on the in-memory World; what needs an extra says in one line
which `pip install "steplane[...]"` brings it. The wheel (built from a copy of these
sources, so the tree gets no build/ folder) is installed by pip with its base dependencies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from runtime.extras import EXTRAS
from steplane.aliases import PACKAGES

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "steplane", *PACKAGES)
LOCAL_HINT = 'pip install "steplane[local]"'


def clean_environment() -> dict[str, str]:
    """This process's environment without what points into this tree or at a World."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("STEPLANE_")}


@dataclass
class Installed:
    wheel: Path
    venv: Path

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        """A command of the environment (`steplane`, `python`), as the user types it."""
        path = f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        env = clean_environment() | {"PATH": path}
        command = [str(self.venv / "bin" / args[0]), *args[1:]]
        return subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=120, env=env
        )


def pip(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_environment(),  # a steplane on PYTHONPATH would count as installed
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    # Not under pytest's basetemp: another pytest session on the machine may prune it.
    with tempfile.TemporaryDirectory(prefix="steplane-install-") as directory:
        yield _install(Path(directory))


def _install(base: Path) -> Installed:
    sources = base / "src"
    sources.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, sources / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(ROOT / name, sources / name)
    pip("wheel", "--no-deps", "-w", str(base / "dist"), str(sources))
    [wheel] = (base / "dist").glob("steplane-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip("--python", str(venv / "bin" / "python"), "install", str(wheel))  # no extra
    return Installed(wheel, venv)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with its own `adapters` package, a Terraform `infra/` folder (no Python) and
    a workflow written with the documented imports."""
    (tmp_path / "adapters").mkdir()
    (tmp_path / "adapters" / "__init__.py").write_text('OWNER = "project"\n')
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "main.tf").write_text('terraform { required_version = ">= 1.5" }\n')
    (tmp_path / "orders.py").write_text(
        textwrap.dedent(
            """
            import adapters
            from runtime import step, workflow

            @step
            async def owner() -> str:
                return adapters.OWNER

            @workflow
            async def place(order_id: str) -> dict:
                return {"order": order_id, "adapters": await owner()}
            """
        )
    )
    return tmp_path


@pytest.mark.slow
def test_the_wheel_holds_our_packages_under_steplane_only(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    sources = {
        f"steplane/{path.relative_to(ROOT).as_posix()}"
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert sources <= names  # every subpackage, including ones added later
    assert {"steplane.pth", "steplane/aliases.py", "steplane/infra/template.json"} <= names
    ui = {
        f"steplane/{path.relative_to(ROOT).as_posix()}"
        for path in (ROOT / "adapters" / "http" / "static").iterdir()
    }
    assert {
        "steplane/adapters/http/static/index.html",
        "steplane/adapters/http/static/app.js",
    } <= ui
    assert ui <= names  # the web UI's pages, script and style sheet
    tops = {name.split("/")[0] for name in names if not name.startswith("steplane-")}
    assert tops == {"steplane", "steplane.pth"}


@pytest.mark.slow
def test_steplane_run_without_the_local_extra_names_it(installed: Installed, project: Path) -> None:
    done = installed.run("steplane", "run", "orders:place", "o-1", cwd=project)
    assert (done.returncode, done.stdout) == (1, "")
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Error: ") and line.endswith(f"is not installed: {LOCAL_HINT}")


@pytest.mark.slow
def test_the_base_install_runs_a_workflow_on_the_memory_world(
    installed: Installed, project: Path
) -> None:
    done = installed.run("steplane", "run", "--world", "memory", "orders:place", "o-1", cwd=project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"order": "o-1", "adapters": "project"}


@pytest.mark.slow
def test_plain_python_gets_the_documented_imports_and_the_projects_own_packages(
    installed: Installed, project: Path
) -> None:
    """steplane.pth: `python app.py` needs no `import steplane` first."""
    (project / "app.py").write_text(
        textwrap.dedent(
            """
            from runtime import FatalError, workflow
            from local_emulator import Emulator
            import adapters, infra, steplane.runtime, steplane.local_emulator
            print(FatalError is steplane.runtime.FatalError, workflow is steplane.runtime.workflow)
            same = Emulator is steplane.local_emulator.Emulator
            print(same, adapters.OWNER, list(infra.__path__))
            """
        )
    )
    done = installed.run("python", "app.py", cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "True True",
        f"True project [{str(project / 'infra')!r}]",
    ]


@pytest.mark.slow
def test_the_aws_world_without_the_aws_extra_names_it(installed: Installed, tmp_path: Path) -> None:
    done = installed.run("python", "-c", "import steplane.adapters.aws", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "steplane.runtime.extras.MissingExtraError: botocore is not installed: "
        'pip install "steplane[aws]"'
    )


def test_each_extra_installs_the_modules_its_hint_promises() -> None:
    """runtime/extras.py's EXTRAS against pyproject.toml, through the installed metadata."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    providers = metadata.packages_distributions()
    for extra, modules in EXTRAS.items():
        brought = _closure(extras[extra], extras)
        for module in modules:
            assert {canonicalize_name(d) for d in providers[module]} & brought, (extra, module)


def _closure(requirements: list[str], extras: dict[str, list[str]]) -> set[str]:
    """Every distribution that installing `requirements` installs."""
    found: set[str] = set()
    pending = [Requirement(text) for text in requirements]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name == "steplane":
            pending += [Requirement(t) for e in requirement.extras for t in extras[e]]
            continue
        if name in found and not requirement.extras:
            continue
        found.add(name)
        wanted = ["", *sorted(requirement.extras)]
        for text in metadata.requires(name) or []:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in wanted):
                pending.append(sub)
    return found


@pytest.mark.slow
def test_the_installed_package_has_the_web_ui_files(installed: Installed, tmp_path: Path) -> None:
    """The UI is served from package data (no build step, nothing downloaded)."""
    code = (
        "from steplane.adapters.http.ui import ASSETS; "
        "print(sorted(p.name for p in ASSETS.iterdir()))"
    )
    done = installed.run("python", "-c", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    files = ["app.js", "gantt.js", "index.html", "login.html", "stream.js", "style.css"]
    assert done.stdout.strip() == repr(files)


def test_durable_agents_without_the_agents_extra_name_it(
    installed: Installed, tmp_path: Path
) -> None:
    done = installed.run("python", "-c", "import steplane.agents", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "steplane.runtime.extras.MissingExtraError: pydantic_ai is not installed: "
        'pip install "steplane[agents]"'
    )
