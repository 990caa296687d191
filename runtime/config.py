"""Which World `start()` and friends use: the one installed by code (the emulator, a handler),
else one built from the environment (`STEPLANE_WORLD=memory|aws|module:factory`).

The runtime layer names no adapter: Worlds are found by the name they registered under
(world_registry.py).
"""

from __future__ import annotations

import os

from .errors import ConfigurationError
from .world import World
from .world_registry import build_world, known_worlds

_current: World | None = None


def set_world(world: World | None) -> World | None:
    """Install `world` as the current World; returns the previous one (to restore later)."""
    global _current
    previous, _current = _current, world
    return previous


def get_world() -> World:
    """The current World, building it from `STEPLANE_WORLD` on first use."""
    global _current
    if _current is None:
        _current = world_from_env()
    return _current


def world_from_env() -> World:
    spec = os.environ.get("STEPLANE_WORLD", "")
    if not spec and os.environ.get("STEPLANE_STACK"):
        spec = "aws"  # a deployed stack's resources are AWS ones
    if not spec:
        names = ", ".join(known_worlds()) or "a registered World"
        raise ConfigurationError(
            "no World configured: use local_emulator.Emulator, call runtime.set_world(), "
            f"or set STEPLANE_WORLD ({names}, or module:factory)"
        )
    return build_world(spec)
