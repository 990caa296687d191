"""Classes for the decoding tests, in a module that defines no workflow or step: they are
allowed only because `workflows.py` names them in type hints (or not at all)."""

from __future__ import annotations

import dataclasses
import enum
from typing import NamedTuple


class Tier(enum.Enum):
    GOLD = "gold"
    SILVER = "silver"


@dataclasses.dataclass(frozen=True)
class Line:
    sku: str
    qty: int


@dataclasses.dataclass
class Order:
    order_id: str
    lines: list[Line]  # allowed through Order's own field hints
    tier: Tier = Tier.SILVER


class Point(NamedTuple):
    x: int
    y: int


@dataclasses.dataclass
class NeverHinted:
    """Appears in no hint and lives outside workflow modules: never decodable."""

    secret: str


class PlainClass:
    """Not a dataclass, enum or namedtuple: never built from data."""

    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs
