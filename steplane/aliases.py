"""The bare names `runtime`, `adapters`, `local_emulator`, `infra` as aliases of
`steplane.runtime`, `steplane.adapters`, ... unless the project has its own package of that name.

Why: steplane's packages are installed under `steplane.` so that a project's own `infra/` (CDK,
Terraform) or `adapters/` never shadows them, and they never shadow the project's. The
documented imports (`from runtime import workflow`, `from local_emulator import Emulator`)
keep working through `AliasFinder`, first on `sys.meta_path`:

- For a bare top-level name it asks the rest of the import system first. When that finds a
  package that is not ours (the project's own `infra/`, even a folder without `__init__.py`),
  the finder steps aside and the project gets its package. Otherwise the bare name is bound to
  the very module object `steplane.<name>`: one workflow registry, one `FatalError` class.
  From a source checkout (the repository's root on `sys.path`) the normal finders find our own
  folders, and the name is aliased too: no second copy of a module under its bare name.
- A submodule (`runtime.errors`) is aliased exactly when its parent is.

Installed at interpreter start by `steplane.pth` in site-packages, and on `import steplane`
(so on Lambda too, whose /var/task is not a site directory: the handler path is
`steplane.adapters.lambda_handler.handler`). Where neither happened before a bare import (a
checkout on `PYTHONPATH`, `python -S`), the package's own `import steplane`, its first line,
adopts that import (`adopt_bare_imports`): it ends up aliased as well.
Standard library only, and little of it (`steplane.pth` runs this in every interpreter of
the environment: about 2 ms): a duck-typed finder and loader, no `importlib.abc`, no `typing`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from importlib.machinery import ModuleSpec
from types import CodeType, ModuleType

NAMESPACE = "steplane"
PACKAGES = ("runtime", "adapters", "local_emulator", "infra")
"""The repository's top-level folders, installed as `steplane.<name>`."""


class AliasFinder:
    """Finds `runtime`, `runtime.errors`, ... as aliases of the `steplane.` modules."""

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        top, _, _ = fullname.partition(".")
        if top not in PACKAGES:
            return None
        parent = fullname.rpartition(".")[0]
        if parent:
            if sys.modules.get(parent) is not sys.modules.get(f"{NAMESPACE}.{parent}"):
                return None  # the project's own package: its submodules are its own
        elif not self._ours_or_nothing(fullname):
            return None
        real = importlib.util.find_spec(f"{NAMESPACE}.{fullname}")
        if real is None:
            return None
        return ModuleSpec(
            fullname,
            AliasLoader(real),
            origin=real.origin,
            is_package=real.submodule_search_locations is not None,
        )

    def _ours_or_nothing(self, name: str) -> bool:
        """True when the import system, without us, would find our package or nothing."""
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or isinstance(finder, AliasFinder) or find is None:
                continue
            found = find(name, None)
            if found is not None:
                return _same_file(found.origin, importlib.util.find_spec(f"{NAMESPACE}.{name}"))
        return True


class AliasLoader:
    """Binds the bare name to the `steplane.` module (imported if need be)."""

    def __init__(self, real: ModuleSpec) -> None:
        self.real = real

    def create_module(self, spec: ModuleSpec) -> None:
        return None  # a placeholder module, replaced in `exec_module`

    def exec_module(self, module: ModuleType) -> None:
        # The import system returns what sys.modules holds under the name after this call.
        # Without the placeholder there meanwhile, a bare import of the name while the real
        # module is being imported comes back here and gets that (partial) module.
        del sys.modules[module.__name__]
        sys.modules[module.__name__] = importlib.import_module(self.real.name)

    def get_code(self, fullname: str) -> CodeType | None:
        """The real module's code, for `python -m runtime.something` (runpy asks for it)."""
        get_code = getattr(self.real.loader, "get_code", None)
        return get_code(self.real.name) if get_code is not None else None


def _same_file(origin: str | None, ours: ModuleSpec | None) -> bool:
    if origin is None or ours is None or ours.origin is None:
        return False  # a namespace package (a plain folder) is the project's, not ours
    try:
        return os.path.samefile(origin, ours.origin)
    except OSError:
        return False


def install() -> None:
    """Put the finder first on `sys.meta_path` (once)."""
    if not any(isinstance(finder, AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder())


def adopt_bare_imports() -> None:
    """Run by `import steplane`, the first line of each of our packages: a package of ours
    executing under its bare name (found without the finder) is bound to its `steplane.`
    module instead. The rest of that bare body then runs in a throwaway module whose imports
    are aliases, so no module exists twice; so a package's `__init__` holds only what may run
    twice (imports, re-exports, idempotent registrations)."""
    for name in PACKAGES:
        module = sys.modules.get(name)
        if module is None or module.__name__ != name:
            continue  # not imported, or already an alias (its __name__ is steplane.<name>)
        spec = getattr(module, "__spec__", None)
        if _same_file(
            getattr(spec, "origin", None), importlib.util.find_spec(f"{NAMESPACE}.{name}")
        ):
            del sys.modules[name]  # nested imports of the name now go through the finder
            sys.modules[name] = importlib.import_module(f"{NAMESPACE}.{name}")
