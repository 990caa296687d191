"""Which classes stored data may name: the allow-list behind "reading data never runs code".

A tagged value names its class as `module:qualname`. Decoding must not let data choose code, so
a name resolves only to a class this process allowed, and only through `sys.modules` (never an
import). A class is allowed when it is an Enum, a dataclass or a namedtuple and

- it was registered explicitly (`@serializable` / `register_type(cls)`), or
- it appears in the type hints of a registered workflow or step (`list[Order]`,
  `dict[str, Order] | None`, ...), or in the field types of a class allowed this way, or
- it is defined in a module that defines a registered workflow or step (the host imported that
  module itself to run its code, so it is the application's own code).

Nothing else is ever built: not a class from the standard library, not a class a workflow
module merely imported. Hints are read lazily, the first time a name is not found, so
forward references to classes defined later in a module work.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T", bound=type)

_by_ref: dict[str, type] = {}  # "module:qualname" -> allowed class
_refs: dict[type, str] = {}  # allowed class -> its name (the encode-side check)
_pending: list[Callable[..., Any]] = []  # workflow/step functions whose hints are not read yet
_app_modules: set[str] = set()  # modules that define a registered workflow or step


def ref_of(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def kind_of(cls: Any) -> str | None:
    """'enum', 'dataclass' or 'namedtuple' for the classes steplane can rebuild, else None."""
    if not isinstance(cls, type):
        return None
    if issubclass(cls, Enum):
        return "enum"
    if dataclasses.is_dataclass(cls):
        return "dataclass"
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return "namedtuple"
    return None


def register_type(cls: T) -> T:
    """Allow values of `cls` (an Enum, dataclass or namedtuple) to be stored and read back.

    Needed only for classes that appear in no workflow's or step's type hints and live outside
    the modules defining them. Returns `cls`, so it works as a decorator too."""
    if kind_of(cls) is None:
        raise TypeError(
            f"register_type() takes an Enum, a dataclass or a namedtuple class, got {cls!r}"
        )
    if "<locals>" in cls.__qualname__:
        raise TypeError(f"{ref_of(cls)} is defined inside a function: define it at module level")
    _allow(cls)
    return cls


serializable = register_type


def note_function(fn: Callable[..., Any]) -> None:
    """A workflow or step was registered: its module and its hints allow classes."""
    _app_modules.add(fn.__module__)
    _pending.append(fn)


def is_allowed(cls: type) -> bool:
    """Whether values of `cls` may be encoded (so that they can be decoded again)."""
    if cls in _refs:
        return True
    if _pending:
        _read_pending_hints()
        if cls in _refs:
            return True
    if _from_app_module(ref_of(cls)) is cls:
        _allow(cls)
        return True
    return False


def find(ref: str) -> type | None:
    """The allowed class named `ref`, or None. Never imports anything."""
    cls = _by_ref.get(ref)
    if cls is None and _pending:
        _read_pending_hints()
        cls = _by_ref.get(ref)
    if cls is None:
        cls = _from_app_module(ref)
        if cls is not None:
            _allow(cls)
    return cls


def _allow(cls: type) -> None:
    if cls in _refs:
        return
    _refs[cls] = ref_of(cls)
    _by_ref[ref_of(cls)] = cls
    for hint in _field_hints(cls):
        _walk(hint)


def _from_app_module(ref: str) -> type | None:
    """A rebuildable class defined (not merely imported) in a module that defines workflow
    code. Looks in `vars()` only, so no module `__getattr__` or descriptor runs."""
    module_name, _, qualname = ref.partition(":")
    module = sys.modules.get(module_name) if module_name in _app_modules else None
    if module is None or not qualname or "<locals>" in qualname:
        return None
    obj: Any = module
    for part in qualname.split("."):
        obj = vars(obj).get(part) if hasattr(obj, "__dict__") else None
        if obj is None:
            return None
    if kind_of(obj) is None or obj.__module__ != module_name or obj.__qualname__ != qualname:
        return None
    return typing.cast(type, obj)


def _read_pending_hints() -> None:
    """Walk the hints of registered functions; those whose names cannot be resolved yet (a
    module still importing) stay pending and are tried again at the next miss."""
    still: list[Callable[..., Any]] = []
    for fn in _pending:
        try:
            hints = typing.get_type_hints(fn)
        except NameError:
            still.append(fn)
            continue
        except Exception:  # hints that are not types at all: nothing to allow
            continue
        for hint in hints.values():
            _walk(hint)
    _pending[:] = still


def _field_hints(cls: type) -> list[Any]:
    if kind_of(cls) == "enum":
        return []
    try:
        return list(typing.get_type_hints(cls).values())
    except Exception:  # unresolvable field hints: the class itself is still allowed
        return []


def _walk(hint: Any, depth: int = 0) -> None:
    """Allow every rebuildable class a hint mentions: `X`, `list[X]`, `X | None`, `Annotated[X,
    ...]`, `Literal[Color.RED]`, `NewType`s and TypeVar bounds."""
    if depth > 20:
        return
    if kind_of(hint) is not None and "<locals>" not in hint.__qualname__:
        _allow(hint)
        return
    if isinstance(hint, Enum):  # a Literal[...] member
        _allow(type(hint))
        return
    supertype = getattr(hint, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        _walk(supertype, depth + 1)
    if isinstance(hint, TypeVar) and hint.__bound__ is not None:
        _walk(hint.__bound__, depth + 1)
    for arg in typing.get_args(hint):
        _walk(arg, depth + 1)
