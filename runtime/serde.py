"""The value encoding steplane stores: tagged JSON, readable from any language. Never pickle.

Format (UTF-8 JSON, compact separators). JSON types encode as themselves: str, int (any size),
finite float, bool, None, list, and dict whose keys are all str and include no "$t". Subclasses of
str, int, float, list and dict are stored as their base type. Every other value is an object
``{"$t": TAG, "v": ...}``:

  ``bytes``      base64 (standard alphabet, padded); bytearray decodes as bytes
  ``datetime``   ``isoformat()``; aware values in an IANA zone also carry ``"tz": "Europe/Paris"``
  ``date``       ``isoformat()``
  ``time``       ``isoformat()``
  ``timedelta``  ``[days, seconds, microseconds]``
  ``decimal``    ``str(value)``
  ``uuid``       ``str(value)``
  ``float``      ``"nan"``, ``"inf"`` or ``"-inf"``
  ``tuple``      list of items
  ``set``        list of items, ``frozenset`` likewise; sorted so equal sets encode equally
  ``dict``       list of ``[key, value]`` pairs (non-str keys, or a key named "$t")
  ``enum``       ``{"cls": "module:qualname", "value": member value}``
  ``dataclass``  ``{"cls": "module:qualname", "fields": {name: value}}``
  ``namedtuple`` ``{"cls": "module:qualname", "fields": {name: value}}``

Items nested anywhere are encoded the same way. A ``bytes`` value of at least `RAW_MIN_BYTES`
is not base64'd: `dumps` writes ``{"$t": "raw", "v": INDEX}`` in its place and frames the
payload as ``\x00SLRAW1``, a big-endian u32 count and u64 JSON length, one u64 length per raw
value, the JSON text, then the raw values back to back (docs/serialization.md). A payload
without the prefix is plain tagged JSON, so values stored before framing still decode.

Reading data never runs code: a class named by
an ``enum``/``dataclass``/``namedtuple`` tag resolves only to a class this process allowed (see
`runtime.type_registry`), nothing is imported because data named it, and values of classes that
are not allowed are refused when they are written, so whatever is written can be read back.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import math
import reprlib
import struct
import sys
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from steplane.runtime import type_registry
from steplane.runtime.errors import PayloadTooLargeError, SerializationError, StepFailedError

TAG = "$t"
_SCALARS = frozenset({str, int, bool, type(None)})  # stored as themselves, no walk needed
SUPPORTED = (
    "steplane stores JSON types plus bytes, datetime, date, time, timedelta, Decimal, UUID, "
    "tuple, set, frozenset, Enum and dataclasses"
)


# --- encoding -------------------------------------------------------------------------------


def dumps(value: Any, what: str = "value") -> bytes:
    """Encode `value` as tagged JSON; `what` names the root in error paths (args, result, ...).
    Large `bytes` values travel raw after the JSON (see `_frame`), not as base64."""
    raws: list[bytes | bytearray] = []
    return _frame(_write(_to_tree(value, what, raws), what), raws)


CALL_ENVELOPE = len(b'{"args":[],"kwargs":{}}')
"""Bytes of the envelope around a call's arguments, not counted against the payload limit."""


def dumps_call(args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> bytes:
    """The arguments of a call as `{"args": [...], "kwargs": {...}}`; error paths start at
    `args[i]` or `kwargs['name']` so users see which argument is at fault."""
    raws: list[bytes | bytearray] = []
    obj = {"args": _to_tree(list(args), "args", raws), "kwargs": _to_tree(kwargs, "kwargs", raws)}
    return _frame(_write(obj, "arguments"), raws)


def _write(obj: Any, what: str) -> bytes:
    try:
        try:
            return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates have no UTF-8 form: escape them as \udXXX
            return json.dumps(obj, separators=(",", ":")).encode("ascii")
    except ValueError as exc:  # e.g. an int above Python's digit limit for str()
        raise SerializationError(f"cannot serialize {what}: {exc}") from None


def to_jsonable(value: Any, what: str = "value") -> Any:
    """The plain JSON structure (dicts, lists, scalars) for `value`: bytes always as base64."""
    return _to_tree(value, what, None)


def _to_tree(value: Any, what: str, raws: list[bytes | bytearray] | None) -> Any:
    """The JSON structure of `value`; with `raws`, large bytes are appended there and the
    tree holds `{"$t": "raw", "v": index}` in their place."""
    start = 0 if raws is None else len(raws)
    try:
        return _encode(value, None, _Walk(raws))
    except SerializationError:
        # Walk again naming every position: paths cost too much to build on the happy path.
        if raws is not None:
            del raws[start:]
        return _encode(value, what, _Walk(raws))


@dataclasses.dataclass
class _Walk:
    """The state of one encoding walk: containers being encoded (to refuse cycles) and the
    raw bytes values set aside so far (None: encode every bytes value as base64)."""

    raws: list[bytes | bytearray] | None
    active: set[int] = dataclasses.field(default_factory=set)


# --- raw framing: bytes without base64 ------------------------------------------------------

RAW_MIN_BYTES = 4096
"""Bytes values at least this long are framed raw; shorter ones stay base64 inside the JSON."""
_MAGIC = b"\x00SLRAW1"  # JSON text never starts with NUL, so old payloads are told apart
_HEADER = struct.Struct(">IQ")  # number of raw values, length of the JSON text
_LENGTH = struct.Struct(">Q")


def _frame(text: bytes, raws: list[bytes | bytearray]) -> bytes:
    """Plain JSON when there is nothing raw; else MAGIC, header, one length per raw value,
    the JSON text, then the raw values back to back (one copy of each, no inflation)."""
    if not raws:
        return text
    lengths = b"".join(_LENGTH.pack(len(raw)) for raw in raws)
    return b"".join([_MAGIC, _HEADER.pack(len(raws), len(text)), lengths, text, *raws])


def _unframe(data: bytes) -> tuple[memoryview, list[memoryview]]:
    """The JSON text and the raw values of a framed payload (views, no copies yet)."""
    view = memoryview(data)
    offset = len(_MAGIC)
    try:
        count, text_len = _HEADER.unpack_from(view, offset)
        offset += _HEADER.size
        lengths = [_LENGTH.unpack_from(view, offset + i * _LENGTH.size)[0] for i in range(count)]
    except struct.error:
        raise SerializationError("stored value has a truncated raw header") from None
    offset += count * _LENGTH.size
    text = view[offset : offset + text_len]
    offset += text_len
    raws = []
    for length in lengths:
        raws.append(view[offset : offset + length])
        offset += length
    if offset != len(view):
        raise SerializationError("stored value's raw sections do not add up to its length")
    return text, raws


def value_size(data: bytes) -> int:
    """The size of the user's value in `data` as the limits count it: its tagged JSON with
    each raw bytes value counted at its own length (no base64, no framing, no references)."""
    if not data.startswith(_MAGIC):
        return len(data)
    count = _HEADER.unpack_from(data, len(_MAGIC))[0]
    references = sum(len(_write(_tag("raw", i), "reference")) for i in range(count))
    return len(data) - len(_MAGIC) - _HEADER.size - count * _LENGTH.size - references


def _encode(value: Any, path: str | None, walk: _Walk) -> Any:
    """Encode one value; `path` is where it sits, or None while nothing has failed yet."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is float and math.isfinite(value):
        return value
    if kind is dict or kind is list:
        return _encode_nested(value, path, walk)
    if isinstance(value, Enum):
        ref = _class_ref(kind, path)
        inner = None if path is None else f"{path}.value"
        return _tag("enum", {"cls": ref, "value": _encode(value.value, inner, walk)})
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else _tag("float", str(value))
    if isinstance(value, (bytes, bytearray)):
        if walk.raws is not None and len(value) >= RAW_MIN_BYTES:
            walk.raws.append(value)
            return _tag("raw", len(walk.raws) - 1)
        return _tag("bytes", base64.b64encode(value).decode("ascii"))
    if isinstance(value, datetime):
        return _encode_datetime(value)
    if isinstance(value, date):
        return _tag("date", value.isoformat())
    if isinstance(value, time):
        return _tag("time", value.isoformat())
    if isinstance(value, timedelta):
        return _tag("timedelta", [value.days, value.seconds, value.microseconds])
    if isinstance(value, Decimal):
        return _tag("decimal", str(value))
    if isinstance(value, UUID):
        return _tag("uuid", str(value))
    if isinstance(value, (dict, list, tuple, set, frozenset)) or _is_dataclass_instance(value):
        return _encode_nested(value, path, walk)
    raise SerializationError(
        f"cannot serialize a value of type {kind.__qualname__!r} at {path}: {SUPPORTED}"
    )


def _encode_nested(value: Any, path: str | None, walk: _Walk) -> Any:
    """Encode a container or dataclass, refusing one that contains itself."""
    if id(value) in walk.active:
        raise SerializationError(f"cannot serialize the value at {path}: it contains itself")
    walk.active.add(id(value))
    try:
        return _encode_container(value, path, walk)
    finally:
        walk.active.discard(id(value))


def _encode_container(value: Any, path: str | None, walk: _Walk) -> Any:
    if isinstance(value, dict):
        if all(type(k) is str for k in value) and TAG not in value:
            return {
                k: v if type(v) in _SCALARS else _encode(v, _key(path, k), walk)
                for k, v in value.items()
            }
        pairs = [
            [
                _encode(k, None if path is None else f"{path}.keys()[{i}]", walk),
                _encode(v, _key(path, k), walk),
            ]
            for i, (k, v) in enumerate(value.items())
        ]
        return _tag("dict", pairs)
    if isinstance(value, (list, tuple)):
        if isinstance(value, tuple) and hasattr(type(value), "_fields"):
            return _encode_fields("namedtuple", value, value._asdict(), path, walk)
        items = [
            v if type(v) in _SCALARS else _encode(v, None if path is None else f"{path}[{i}]", walk)
            for i, v in enumerate(value)
        ]
        return items if isinstance(value, list) else _tag("tuple", items)
    if isinstance(value, (set, frozenset)):
        items = [_encode(v, None if path is None else f"{path}{{...}}", walk) for v in value]
        return _tag("frozenset" if isinstance(value, frozenset) else "set", _ordered(value, items))
    fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return _encode_fields("dataclass", value, fields, path, walk)


def _key(path: str | None, key: Any) -> str | None:
    return None if path is None else f"{path}[{reprlib.repr(key)}]"


def _encode_fields(
    tag: str, value: Any, fields: dict[str, Any], path: str | None, walk: _Walk
) -> dict[str, Any]:
    ref = _class_ref(type(value), path)
    encoded = {
        name: _encode(v, None if path is None else f"{path}.{name}", walk)
        for name, v in fields.items()
    }
    return _tag(tag, {"cls": ref, "fields": encoded})


def _encode_datetime(value: datetime) -> dict[str, Any]:
    out = _tag("datetime", value.isoformat())
    if isinstance(value.tzinfo, ZoneInfo) and value.tzinfo.key:
        out["tz"] = value.tzinfo.key  # keeps DST-aware arithmetic after a round trip
    return out


def _ordered(value: set[Any] | frozenset[Any], items: list[Any]) -> list[Any]:
    """Natural order for all-str or all-number sets, else by encoded text: always deterministic."""
    pairs = list(zip(value, items, strict=True))
    if all(type(v) is str for v in value) or all(
        isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)) for v in value
    ):
        return [enc for _, enc in sorted(pairs, key=lambda p: p[0])]
    return sorted(items, key=lambda enc: json.dumps(enc, sort_keys=True))


def _is_dataclass_instance(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _tag(tag: str, v: Any) -> dict[str, Any]:
    return {TAG: tag, "v": v}


def _class_ref(cls: type, path: str | None) -> str:
    """`module:qualname`, refusing classes a later decode could not find again."""
    ref = type_registry.ref_of(cls)
    if _lookup(ref) is not cls:
        raise SerializationError(
            f"cannot serialize a value of type {cls.__qualname__!r} at {path}: its class must be "
            "defined at module level so it can be found again by name"
        )
    if not type_registry.is_allowed(cls):
        raise SerializationError(
            f"cannot serialize a value of type {cls.__qualname__!r} at {path}: {ref} is not a "
            "registered type, so it could not be read back; name it in a workflow's or step's "
            "type hints, define it in a workflow module, or decorate it with "
            "@runtime.serializable"
        )
    return ref


_OUR_BARE_NAMES = ("runtime.", "adapters.", "local_emulator.", "infra.")


def _lookup(ref: str) -> Any:
    """The object named by `module:qualname` among imported modules, or None. Reads `vars()`
    only: never imports, never runs a module `__getattr__` or a descriptor.

    Logs written before the `steplane.` namespace name our classes by their bare module
    (`runtime.errors:FatalError`); those are found under `steplane.` when the bare name is not
    imported."""
    module_name, _, qualname = ref.partition(":")
    obj: Any = sys.modules.get(module_name)
    if obj is None and module_name.startswith(_OUR_BARE_NAMES):
        obj = sys.modules.get(f"steplane.{module_name}")
    for part in qualname.split("."):
        if obj is None or not hasattr(obj, "__dict__"):
            return None
        obj = vars(obj).get(part)
    return obj


# --- decoding -------------------------------------------------------------------------------


def loads(data: bytes) -> Any:
    """Decode bytes written by `dumps` (plain tagged JSON, or framed with raw bytes)."""
    hook = _decode_object
    text: bytes | memoryview = data
    if data.startswith(_MAGIC):
        text, raws = _unframe(data)

        def hook(obj: dict[str, Any]) -> Any:
            if obj.get(TAG) == "raw":
                index = obj.get("v")
                if type(index) is not int or not 0 <= index < len(raws):
                    raise SerializationError(f"stored raw reference {index!r} is malformed")
                return bytes(raws[index])
            return _decode_object(obj)

    try:
        if hook is _decode_object:  # the common, unframed value: one decoder, UTF-8 only
            return _DECODER.decode(data.decode("utf-8"))
        return json.loads(bytes(text) if isinstance(text, memoryview) else text, object_hook=hook)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError; decode errors are TypeErrors
        raise SerializationError(f"stored value is not valid UTF-8 JSON: {exc}") from None
    except RecursionError:
        raise SerializationError("stored value is nested too deeply to decode") from None


def from_jsonable(obj: Any, *, classes: bool = True) -> Any:
    """Rebuild the value from the plain JSON structure `to_jsonable` produced. With
    `classes=False` the value tags (bytes, datetime, set, ...) decode but class tags (enum,
    dataclass, namedtuple) are refused: for values that come from outside the process."""
    try:
        return _from_jsonable(obj, classes)
    except RecursionError:
        raise SerializationError("value is nested too deeply to decode") from None


def _from_jsonable(obj: Any, classes: bool) -> Any:
    if isinstance(obj, list):
        return [_from_jsonable(v, classes) for v in obj]
    if isinstance(obj, dict):
        decoded = {k: _from_jsonable(v, classes) for k, v in obj.items()}
        if not classes and decoded.get(TAG) in _CLASS_TAGS:
            raise SerializationError(
                f"tag {decoded[TAG]!r} names a class, which is not accepted from outside the "
                "process; only value tags (bytes, datetime, set, ...) are"
            )
        return _decode_object(decoded)
    return obj


def _decode_object(obj: dict[str, Any]) -> Any:
    """Decode one JSON object whose contents are already decoded (innermost objects first)."""
    if TAG not in obj:
        return obj
    tag = obj[TAG]
    decode = _DECODERS.get(tag) if isinstance(tag, str) else None
    if decode is None:
        raise SerializationError(f"stored value has an unknown tag {tag!r}")
    try:
        return decode(obj)
    except SerializationError:
        raise
    except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise SerializationError(f"stored {tag!r} value is malformed: {exc!r}") from None


_DECODER = json.JSONDecoder(object_hook=_decode_object)
"""Made once: `json.loads(..., object_hook=)` builds a decoder per call, and a replay decodes
thousands of recorded values. Shared by threads (its scanner keeps no state between calls
that matters: a key-interning memo)."""


def _decode_datetime(obj: dict[str, Any]) -> datetime:
    value = datetime.fromisoformat(obj["v"])
    if "tz" in obj:
        # Without a tz database here the fixed offset still names the same instant.
        with contextlib.suppress(ZoneInfoNotFoundError):
            value = value.astimezone(ZoneInfo(obj["tz"]))
    return value


def _decode_float(obj: dict[str, Any]) -> float:
    if obj["v"] not in ("nan", "inf", "-inf"):
        raise ValueError(f"not a non-finite float: {obj['v']!r}")
    return float(obj["v"])


def _decode_class(obj: dict[str, Any], tag: str) -> Any:
    ref = obj["v"]["cls"]
    if not isinstance(ref, str):
        raise TypeError(f"class name {ref!r} is not a string")
    cls = type_registry.find(ref)
    if cls is None:
        raise SerializationError(
            f"stored {tag!r} value names {ref!r}, which is not a registered type in this "
            "process (nothing was imported); register it with @runtime.serializable or name it "
            "in a workflow's or step's type hints"
        )
    if type_registry.kind_of(cls) != tag:
        raise SerializationError(f"stored {tag!r} value names {ref!r}, which is not {_KINDS[tag]}")
    return cls


_KINDS = {"enum": "an Enum", "dataclass": "a dataclass", "namedtuple": "a namedtuple"}
_CLASS_TAGS = frozenset(_KINDS)


def _decode_enum(obj: dict[str, Any]) -> Enum:
    return _decode_class(obj, "enum")(obj["v"]["value"])


def _decode_dataclass(obj: dict[str, Any]) -> Any:
    cls = _decode_class(obj, "dataclass")
    values = obj["v"]["fields"]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise SerializationError(
            f"stored dataclass {obj['v']['cls']!r} has no field {unknown[0]!r}"
        )
    try:
        instance = cls(**{k: v for k, v in values.items() if fields[k].init})
    except Exception as exc:
        raise SerializationError(f"cannot rebuild dataclass {obj['v']['cls']!r}: {exc}") from None
    for name, v in values.items():
        if not fields[name].init:
            object.__setattr__(instance, name, v)  # works for frozen dataclasses too
    return instance


def _decode_namedtuple(obj: dict[str, Any]) -> tuple[Any, ...]:
    cls = _decode_class(obj, "namedtuple")
    values = obj["v"]["fields"]
    unknown = sorted(set(values) - set(cls._fields))
    if unknown:
        raise SerializationError(
            f"stored namedtuple {obj['v']['cls']!r} has no field {unknown[0]!r}"
        )
    return cls(**values)


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "bytes": lambda o: base64.b64decode(o["v"], validate=True),
    "datetime": _decode_datetime,
    "date": lambda o: date.fromisoformat(o["v"]),
    "time": lambda o: time.fromisoformat(o["v"]),
    "timedelta": lambda o: timedelta(days=o["v"][0], seconds=o["v"][1], microseconds=o["v"][2]),
    "decimal": lambda o: Decimal(o["v"]),
    "uuid": lambda o: UUID(o["v"]),
    "float": _decode_float,
    "tuple": lambda o: tuple(o["v"]),
    "set": lambda o: set(o["v"]),
    "frozenset": lambda o: frozenset(o["v"]),
    "dict": lambda o: dict(o["v"]),
    "enum": _decode_enum,
    "dataclass": _decode_dataclass,
    "namedtuple": _decode_namedtuple,
}


# --- size limits ----------------------------------------------------------------------------


def check_size(data: bytes, limit: int, what: str, *, call: bool = False) -> None:
    """Refuse one encoded payload whose value (`value_size`) is above `limit` bytes, saying
    how big it is and what it was. A `call` payload (`dumps_call`) is measured without the
    `{"args":[],"kwargs":{}}` envelope steplane wraps the arguments in."""
    n = value_size(data) - (CALL_ENVELOPE if call else 0)
    if n <= limit:
        return
    size, cap = _human(n), _human(limit)
    if size == cap:  # rounding hid the difference: show exact byte counts
        size, cap = f"{n} bytes", f"{limit} bytes"
    raise PayloadTooLargeError(f"{what} is {size}, over the {cap} limit per payload")


def _human(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


# --- exceptions -----------------------------------------------------------------------------


def encode_exception(exc: BaseException) -> dict[str, Any]:
    """Record a step's exception so the workflow can re-raise it, in this or another process.

    `args` are the constructor arguments the exception pickles with (its `__reduce__`, so
    `RetryableError` keeps `retry_after`), or None when they are not serializable.
    """
    cls = type(exc)
    try:
        reduced = exc.__reduce__()
        ctor_args = reduced[1] if reduced[0] is cls else exc.args
        args = to_jsonable(list(ctor_args), "args")
    except Exception:  # unserializable args, or a broken __reduce__: keep type and message
        args = None
    try:
        message = str(exc)
    except Exception:
        message = f"<{cls.__qualname__} whose str() failed>"
    return {"type": f"{cls.__module__}:{cls.__qualname__}", "message": message, "args": args}


def rebuild_exception(info: dict[str, Any], step_name: str = "") -> BaseException:
    """The original exception when its class is already imported and rebuildable, else
    `StepFailedError` with the type name and message. Never imports code named by stored data."""
    type_name, message = info["type"], info["message"]
    cls = _lookup(type_name) if isinstance(type_name, str) else None
    if isinstance(cls, type) and issubclass(cls, Exception):
        attempts: list[tuple[Any, ...]] = [(message,)]
        if info.get("args") is not None:
            with contextlib.suppress(SerializationError):
                attempts.insert(0, tuple(from_jsonable(info["args"])))
        for args in attempts:
            try:
                exc = cls(*args)
            except Exception:
                continue
            if isinstance(exc, cls):
                return exc
    return StepFailedError(type_name, message, step_name)
