"""DynamoDB attribute values out of moto without its generic serializer (installed by
moto_patches.py; no answer changes).

moto 5.2 renders every response through one serializer driven by the service's model: for
each member of each structure it builds a context, asks six alias providers for the names the
value might sit under (and the snake case of each) and looks each one up. A DynamoDB
attribute value is a structure of ten members (S, N, B, SS, ... BOOL), so every attribute of
every item returned costs ten such look-ups and more for nested maps and lists: about 28% of
the CPU of a cold read of a run's log on the embedded moto, a fifth of a bare GetItem.

moto's items hold their attribute values as plain dicts keyed by exactly those member names,
for which the look-ups can only find the key itself. Such a value is rendered here directly,
member by member as moto's serializer renders it (strings through `str`, binary through the
serializer's own base64, sets and lists item by item, a map's `None` entries left out, a
list's kept). Anything else (another key, a nested value that is not a dict, a map entry
named "") goes to moto's serializer, whole. `tests/test_moto_attribute_values.py` holds the
two to the same output.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

_STRINGS = ("S", "N")
_ORDER = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")  # the model's order
_MEMBERS = frozenset(_ORDER)
_SERVICES = frozenset({"dynamodb", "dynamodbstreams"})


class _Unusual(Exception):
    """A value this module does not render: moto's serializer does."""


def install() -> None:
    from moto.core.serialize import BaseJSONSerializer

    generic = BaseJSONSerializer._serialize_type_structure

    def serialize_structure(
        self: Any, serialized: dict[str, Any], value: Any, shape: Any, key: str
    ) -> None:
        if (
            key
            and shape.name == "AttributeValue"
            and type(value) is dict
            and self.operation_model.service_model.service_name in _SERVICES
        ):
            try:
                rendered = _attribute_value(self, value)
            except _Unusual:
                pass
            else:
                serialized[self.get_serialized_name(shape, key)] = rendered
                return
        generic(self, serialized, value, shape, key)

    serialize_structure.generic = generic  # type: ignore[attr-defined]  # for the tests
    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]


def _string(value: Any) -> Any:
    """moto's `_serialize_type_string` on JSON."""
    if isinstance(value, Enum):
        value = value.value
    return str(value) if value not in [None, {}, []] else value


def _attribute_value(serializer: Any, value: dict[str, Any]) -> dict[str, Any]:
    if not value.keys() <= _MEMBERS:
        raise _Unusual
    rendered: dict[str, Any] = {}
    for member in _ORDER:
        item = value.get(member)
        if item is None:
            continue
        if member in _STRINGS:
            rendered[member] = _string(item)
        elif member == "B":
            rendered[member] = serializer._base64(item)
        elif member in ("SS", "NS"):
            rendered[member] = [_string(each) for each in item]
        elif member == "BS":
            rendered[member] = [serializer._base64(each) for each in item]
        elif member == "M":
            if "" in item:  # moto writes such an entry's members into the map itself
                raise _Unusual
            rendered[member] = {
                name: _nested(serializer, each) for name, each in item.items() if each is not None
            }
        elif member == "L":
            rendered[member] = [
                None if each is None else _nested(serializer, each) for each in item
            ]
        else:  # NULL, BOOL: booleans, as they are
            rendered[member] = item
    return rendered


def _nested(serializer: Any, value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Unusual
    return _attribute_value(serializer, value)
