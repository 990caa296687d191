"""steplane: durable workflows for Python.

The distribution's import namespace: `steplane.runtime`, `steplane.adapters`,
`steplane.local_emulator` and `steplane.infra` are the real packages, so a project's own
top-level `infra/`, `adapters/` or `runtime/` can never shadow them. The documented bare names
(`from runtime import workflow`, `from local_emulator import Emulator`) are aliases of these
modules, installed here (see `steplane.aliases`) and at interpreter start by `steplane.pth`.

Installed (wheel, Lambda bundle) the packages sit inside this package's folder; in a source
checkout they are the repository's top-level folders beside it, so the parent folder joins
this package's search path. Standard library only: `steplane.pth` imports this in every
interpreter of the environment.
"""

import os

from .aliases import PACKAGES, adopt_bare_imports, install

_here = os.path.dirname(os.path.realpath(__file__))
if not os.path.isdir(os.path.join(_here, PACKAGES[0])):
    __path__.append(os.path.dirname(_here))  # a source checkout: steplane.runtime is ../runtime

install()
adopt_bare_imports()
