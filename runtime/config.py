"""Which World `start()` and friends use: the one installed by code (the emulator, a handler),
else one built from the environment (`STEPLANE_WORLD=memory|aws|module:factory`).

The runtime layer must not import adapters, so environment-configured Worlds are found by
module path at run time.
"""

from __future__ import annotations

import importlib
import os

from .errors import ConfigurationError
from .world import World

WORLD_FACTORIES = {
    "memory": "adapters.memory:MemoryWorld",
    "aws": "adapters.aws:world_from_env",
}

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
        raise ConfigurationError(
            "no World configured: use local_emulator.Emulator, call runtime.set_world(), "
            "or set STEPLANE_WORLD (memory, aws, or module:factory)"
        )
    target = WORLD_FACTORIES.get(spec, spec)
    module_name, _, attribute = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute or "world_from_env")
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(
            f"STEPLANE_WORLD={spec!r}: cannot load {target!r} ({error})"
        ) from None
    return factory()
