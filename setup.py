"""What pyproject.toml cannot say: the package layout, and `steplane.pth`.

The repository's top-level folders (`runtime/`, `adapters/`, `local_emulator/`, `infra/`) are
installed as `steplane.runtime`, ... (the folder `steplane/` holds the namespace itself), every
subpackage found, so a folder added later is never left out of the wheel.

`steplane.pth`, at the root of site-packages, imports `steplane` at interpreter start, which
installs the aliases that keep `from runtime import workflow` working (steplane/aliases.py).
It goes into the wheel (`build_py`) and into editable installs (`editable_wheel`).
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

_names = runpy.run_path(str(Path(__file__).resolve().parent / "steplane" / "aliases.py"))
NAMESPACE, PACKAGES = _names["NAMESPACE"], _names["PACKAGES"]  # one list of our packages
PTH_NAME = "steplane.pth"
PTH_LINE = "import steplane\n"
"""A .pth line starting with `import` is executed by `site`; `steplane` installs the aliases."""


def packages() -> list[str]:
    found = [NAMESPACE]
    for folder in PACKAGES:
        found += [f"{NAMESPACE}.{folder}"]
        found += [f"{NAMESPACE}.{folder}.{sub}" for sub in find_packages(folder)]
    return found


class BuildWithPth(build_py):
    """The wheel: steplane.pth beside the packages, at the root of site-packages."""

    def run(self) -> None:
        super().run()
        (Path(self.build_lib) / PTH_NAME).write_text(PTH_LINE)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH_NAME)]


class EditableWithPth(editable_wheel):
    """`pip install -e .`: setuptools' editable strategies write only their own .pth (which
    makes `steplane` importable from this folder); ours is added beside it, and runs after it
    (.pth files are read in name order: `__editable__...` first). `_select_strategy` is
    setuptools' own hook (setuptools 64 to 84 at least); a strategy writes files into the
    editable wheel."""

    def _select_strategy(self, name: str, tag: str, build_lib: Any) -> Any:
        return _AddPth(super()._select_strategy(name, tag, build_lib))


class _AddPth:
    """An editable strategy that also writes steplane.pth into the editable wheel."""

    def __init__(self, strategy: Any) -> None:
        self.strategy = strategy

    def __call__(self, wheel: Any, files: list[str], mapping: dict[str, str]) -> None:
        self.strategy(wheel, files, mapping)
        wheel.writestr(PTH_NAME, PTH_LINE)

    def __enter__(self) -> _AddPth:
        self.strategy.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.strategy.__exit__(*exc_info)


setup(
    packages=packages(),
    package_dir={NAMESPACE: NAMESPACE, **{f"{NAMESPACE}.{p}": p for p in PACKAGES}},
    package_data={
        f"{NAMESPACE}.infra": ["template.json"],
        f"{NAMESPACE}.adapters.http": [
            "static/*.html",
            "static/*.js",
            "static/*.css",
        ],  # the web UI
    },
    cmdclass={"build_py": BuildWithPth, "editable_wheel": EditableWithPth},
)
