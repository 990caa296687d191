"""Deployment identity: which version of the code a run is pinned to.

Every run records the deployment that started it (run record, `run_created` attrs) and every
queue message carries it (`dep`, engine/messages.py), so a host of another version can refuse
the work and hand it on instead of replaying a log against code that did not write it
(docs/deployments.md).

The id of the code a process runs, in order:

1. `set_deployment_id(...)` (a host given its id explicitly, e.g. `steplane dev --reload`);
2. `STEPLANE_DEPLOYMENT_ID` (what `steplane deploy` puts in the function's environment: the
   content hash of the bundle it uploaded);
3. a hash of the sources of the modules that registered workflows and steps (locally: the
   same code gives the same id in every process, changed code a new one).

None when none applies (no workflow registered): such a process pins nothing and serves
unpinned runs only (runs of a steplane before deployments, which any host may run).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from .ids import check_deployment_id
from .registry import registered_modules

__all__ = [
    "DEPLOYMENT_ENV",
    "check_deployment_id",
    "code_deployment_id",
    "current_deployment_id",
    "set_deployment_id",
    "swap_deployment_id",
]

DEPLOYMENT_ENV = "STEPLANE_DEPLOYMENT_ID"
_explicit: str | None = None


def set_deployment_id(deployment: str | None) -> None:
    """Make `deployment` this process's id (None: back to the environment / code hash)."""
    global _explicit
    _explicit = None if deployment is None else check_deployment_id(deployment)


def swap_deployment_id(deployment: str | None) -> str | None:
    """`set_deployment_id(deployment)`, returning the explicit id it replaces (to restore)."""
    previous = _explicit
    set_deployment_id(deployment)
    return previous


def code_deployment_id(modules: Iterable[str] | None = None) -> str | None:
    """`d-` and 12 hex digits of a SHA-256 over the names and source bytes of `modules`
    (default: the modules that registered workflows and steps); None without any."""
    names = sorted(set(registered_modules() if modules is None else modules))
    if not names:
        return None
    digest = hashlib.sha256()
    for name in names:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        digest.update(name.encode() + b"\0")
        if path and Path(path).is_file():
            digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return "d-" + digest.hexdigest()[:12]


def current_deployment_id() -> str | None:
    """This process's deployment id (module docstring), or None."""
    if _explicit is not None:
        return _explicit
    from_env = os.environ.get(DEPLOYMENT_ENV)
    if from_env:
        return check_deployment_id(from_env)
    return code_deployment_id()
