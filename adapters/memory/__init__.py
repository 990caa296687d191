"""The in-memory World: one small module per store, assembled in `world.py`."""

from .world import MemoryWorld

__all__ = ["MemoryWorld"]
