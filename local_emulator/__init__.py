"""Local development: the emulator that plays Lambda + SQS, and the `steplane` CLI."""

import steplane  # noqa: F401  first: a bare-name import of this package becomes an alias

from .emulator import Emulator

__all__ = ["Emulator"]
