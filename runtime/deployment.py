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

`start()` pins a new run only to an id given by 1 or 2 (or asked for, or its parent's);
otherwise the run starts unpinned and the first host that runs it pins it to its own id
(`RunStore.update_status(..., deployment=)`, in the write that marks it running).
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
    "explicit_deployment_id",
    "set_deployment_id",
    "swap_deployment_id",
]

DEPLOYMENT_ENV = "STEPLANE_DEPLOYMENT_ID"
_explicit: str | None = None
_code_id: str | None = None


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


def explicit_deployment_id() -> str | None:
    """The id this process was given (`set_deployment_id`, else `STEPLANE_DEPLOYMENT_ID`),
    or None. What `start()` pins a new run to by default: a client without one starts the
    run unpinned and the first host to run it pins it to its own code, so a script whose
    loaded modules differ from the deployed ones never pins runs to code nobody serves."""
    if _explicit is not None:
        return _explicit
    from_env = os.environ.get(DEPLOYMENT_ENV)
    return check_deployment_id(from_env) if from_env else None


def current_deployment_id() -> str | None:
    """This process's deployment id (module docstring), or None. The code hash is taken
    once, the first time it is asked for, and kept: every host and client of the process
    agree on it, and no later import changes it."""
    global _code_id
    explicit = explicit_deployment_id()
    if explicit is not None:
        return explicit
    if _code_id is None:
        _code_id = code_deployment_id()
    return _code_id
