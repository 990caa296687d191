"""How `steplane dev` and the other commands find each other: a small state file.

`steplane dev` writes `.steplane/dev.json` in its working directory (or `$STEPLANE_DEV_STATE`)
with the moto endpoint, resource prefix and HTTP address; `steplane runs ...` run from the same
directory read it and talk to the same emulated AWS, so no flags are needed.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class DevState:
    pid: int
    endpoint_url: str
    prefix: str
    region: str
    api_url: str
    api_key: str


STATE_DIRECTORY = ".steplane"


def state_path() -> Path:
    override = os.environ.get("STEPLANE_DEV_STATE")
    return Path(override) if override else Path.cwd() / STATE_DIRECTORY / "dev.json"


def write_state(state: DevState) -> Path:
    """Write the state file (it holds the API key: readable by its owner only). Its default
    folder ignores itself in git, as pytest's and ruff's caches do, so the key is never
    committed with the project."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    ignore = path.parent / ".gitignore"
    if path.parent.name == STATE_DIRECTORY and not ignore.exists():
        ignore.write_text("# written by steplane dev: its state holds an API key\n*\n")
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(state), indent=2))
    temporary.chmod(0o600)  # holds an API key
    temporary.replace(path)
    return path


def read_state() -> DevState | None:
    """The running dev emulator's state, or None (no file, or its process is gone)."""
    path = state_path()
    try:
        state = DevState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    try:
        os.kill(state.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by someone else
    return state


def clear_state(pid: int) -> None:
    path = state_path()
    current = read_state()
    if current is not None and current.pid == pid:
        path.unlink(missing_ok=True)
