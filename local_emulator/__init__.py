"""Local development: the emulator that plays Lambda + SQS, and the `steplane` CLI."""

from .emulator import Emulator

__all__ = ["Emulator"]
