"""Worlds by name: what `STEPLANE_WORLD=NAME` builds.

The runtime layer names no World: a World registers itself, either in process
(`register_world("aws", factory)`, which the `adapters` package does for its own Worlds when it
is imported) or as a Python entry point in the `steplane.worlds` group of an installed
distribution (`aws = "steplane.adapters.aws:world_from_env"` in steplane's own pyproject.toml), so a
third-party World is found the same way. Any other spec is a module path, imported as
written: `module:factory`, or `module` for its `world_from_env`.

A factory takes no arguments and returns a World; it may also be given as a `module:factory`
string, imported only when that World is built (so registering costs no import).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from importlib import metadata

from .errors import ConfigurationError
from .world import World

ENTRY_POINT_GROUP = "steplane.worlds"

WorldFactory = Callable[[], World]

_registered: dict[str, WorldFactory | str] = {}
_lock = threading.Lock()


def register_world(name: str, factory: WorldFactory | str) -> None:
    """Make `STEPLANE_WORLD=name` build a World with `factory` (a callable or a
    `module:factory` string). Registering a name again replaces its factory."""
    if not name or _is_module_path(name):
        raise ValueError(f"a World name is a word without ':' or '.', got {name!r}")
    with _lock:
        _registered[name] = factory


def known_worlds() -> list[str]:
    """Every World name registered in this process or by an installed entry point, sorted."""
    with _lock:
        names = set(_registered)
    return sorted(names | {entry.name for entry in _entry_points()})


def build_world(spec: str) -> World:
    """A new World from a registered name or a `module:factory` spec."""
    return _resolve(spec)()


def _resolve(spec: str) -> WorldFactory:
    if _is_module_path(spec):
        return _load(spec, spec)
    with _lock:
        factory = _registered.get(spec)
    if factory is None:
        entry = next((e for e in _entry_points() if e.name == spec), None)
        if entry is None:
            known = ", ".join(known_worlds()) or (
                "none; steplane's own are entry points of its installed distribution"
            )
            raise ConfigurationError(
                f"STEPLANE_WORLD={spec!r} is not a known World (known: {known}), "
                "nor a module:factory"
            )
        factory = entry.value
    return factory if callable(factory) else _load(spec, factory)


def _load(spec: str, target: str) -> WorldFactory:
    module_name, _, attribute = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute or "world_from_env")
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(
            f"STEPLANE_WORLD={spec!r}: cannot load {target!r} ({error})"
        ) from None
    if not callable(factory):
        raise ConfigurationError(f"STEPLANE_WORLD={spec!r}: {target!r} is not callable")
    return factory  # type: ignore[no-any-return]


def _is_module_path(spec: str) -> bool:
    return ":" in spec or "." in spec


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))
