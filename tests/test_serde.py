"""The stored value encoding: what round-trips, what is refused, and how errors read."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import enum
import json
import sys
import threading
import types
import uuid
from collections import namedtuple
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest

from runtime.errors import (
    FatalError,
    PayloadTooLargeError,
    RetryableError,
    SerializationError,
    StepFailedError,
)
from runtime.serde import (
    RAW_MIN_BYTES,
    check_size,
    dumps,
    dumps_call,
    encode_exception,
    from_jsonable,
    loads,
    rebuild_exception,
    to_jsonable,
    value_size,
)
from runtime.type_registry import register_type


@register_type
class Color(enum.Enum):
    RED = "red"
    BLUE = (0, 0, 255)


@register_type
class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@register_type
class Perm(enum.Flag):
    R = 4
    W = 2


@register_type
@dataclasses.dataclass
class Item:
    sku: str
    qty: int = 1
    tags: list[str] = dataclasses.field(default_factory=list)


@register_type
@dataclasses.dataclass(frozen=True)
class Order:
    id: str
    items: tuple[Item, ...]
    total: Decimal
    computed: str = dataclasses.field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "computed", f"{self.id}:{len(self.items)}")


@register_type
@dataclasses.dataclass
class Counter:
    start: int
    seen: int = dataclasses.field(init=False, default=0)


@register_type
class Point(NamedTuple):
    x: int
    y: int


Pair = register_type(namedtuple("Pair", "left right"))

ROUND_TRIP = [
    "plain",
    "",
    "null\x00byte",
    "unicode é ✓ 😀",
    "lone \ud800 surrogate",
    0,
    -7,
    2**200,
    -(2**70),
    1.5,
    -0.0,
    1e308,
    True,
    False,
    None,
    [],
    {},
    [1, "a", None, [2.5, {"k": "v"}]],
    {"a": {"b": {"c": [1, 2, {"d": None}]}}},
    b"",
    b"\x00\xff binary",
    datetime(2024, 5, 6, 7, 8, 9, 123456),
    datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    datetime(2024, 5, 6, 7, 8, 9, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2024, 1, 1, tzinfo=timezone(-timedelta(hours=3, minutes=15, seconds=7))),
    date(1999, 12, 31),
    time(23, 59, 58, 999999),
    time(1, 2, 3, tzinfo=timezone(timedelta(hours=-2))),
    timedelta(0),
    timedelta(days=-3, seconds=5, microseconds=7),
    timedelta(days=10_000, microseconds=1),
    Decimal("3.14159265358979323846264338327950288"),
    Decimal("-0.00"),
    Decimal("Infinity"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    (),
    (1, "two", (3.0, None)),
    {1, 2, 3},
    {"b", "a"},
    set(),
    frozenset({(1, 2), (3, 4)}),
    frozenset(),
    {1: "int key", 2.5: "float key", None: "none key", (1, 2): "tuple key"},
    {"$t": "bytes", "v": "not a tag, just user data"},
    {"$t": 1},
    Color.RED,
    Color.BLUE,
    Level.HIGH,
    Perm.R | Perm.W,
    Item("sku-1", 2, ["x"]),
    Point(1, 2),
    Pair("l", [1, 2]),
    float("inf"),
    float("-inf"),
]


def stable_id(value: Any) -> str:
    """`repr`, with a set's members sorted: a set's own order follows the hash seed, which
    differs between processes (pytest-xdist's workers must collect the same ids)."""
    if isinstance(value, set | frozenset):
        return f"{type(value).__name__}({', '.join(sorted(map(repr, value)))})"
    return repr(value)


@pytest.mark.parametrize("value", ROUND_TRIP, ids=stable_id)
def test_round_trip(value: Any) -> None:
    back = loads(dumps(value))
    assert back == value
    assert type(back) is type(value)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        time(1, 2, 3, 4, tzinfo=timezone(timedelta(hours=-2))),
    ],
)
def test_aware_times_keep_offset_and_microseconds(value: datetime | time) -> None:
    back = loads(dumps(value))
    assert back.utcoffset() == value.utcoffset()
    assert back.isoformat() == value.isoformat()


def test_zoneinfo_datetime_keeps_its_zone() -> None:
    try:
        paris = ZoneInfo("Europe/Paris")
    except Exception:
        pytest.skip("no tz database")
    value = datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=paris)  # the repeated hour
    back = loads(dumps(value))
    assert back == value
    assert back.tzinfo == paris
    assert back.utcoffset() == value.utcoffset()
    assert (back + timedelta(days=1)).utcoffset() == timedelta(hours=1)


def test_nan_round_trips_as_nan() -> None:
    back = loads(dumps(float("nan")))
    assert isinstance(back, float) and back != back


def test_bytearray_decodes_as_bytes() -> None:
    assert loads(dumps(bytearray(b"abc"))) == b"abc"


def test_dataclass_nested_in_list_in_dict() -> None:
    order = Order("o-1", (Item("a"), Item("b", 3, ["gift"])), Decimal("19.99"))
    value = {"orders": [order, order], "when": datetime(2024, 1, 1, tzinfo=UTC)}
    back = loads(dumps(value))
    assert back == value
    assert back["orders"][0].computed == "o-1:2"
    assert isinstance(back["orders"][1].items[1], Item)


def test_init_false_fields_are_restored() -> None:
    counter = Counter(5)
    counter.seen = 42
    back = loads(dumps(counter))
    assert (back.start, back.seen) == (5, 42)


def test_encoding_is_compact_tagged_json() -> None:
    data = dumps({"n": 1, "b": b"hi", "t": (1,)})
    assert data == b'{"n":1,"b":{"$t":"bytes","v":"aGk="},"t":{"$t":"tuple","v":[1]}}'
    assert to_jsonable(Color.RED) == {
        "$t": "enum",
        "v": {"cls": f"{__name__}:Color", "value": "red"},
    }
    assert from_jsonable({"$t": "uuid", "v": "12345678-1234-5678-1234-567812345678"}) == (
        uuid.UUID("12345678-1234-5678-1234-567812345678")
    )


def test_non_ascii_text_is_stored_as_utf8() -> None:
    assert dumps("é") == '"é"'.encode()


def test_user_dict_with_tag_key_is_never_read_as_a_tag() -> None:
    encoded = to_jsonable({"$t": "dataclass", "v": {"cls": "os:system"}})
    assert encoded["$t"] == "dict"
    assert loads(dumps({"outer": {"$t": "x"}})) == {"outer": {"$t": "x"}}


def test_sets_encode_deterministically() -> None:
    assert dumps({3, 1, 2}) == b'{"$t":"set","v":[1,2,3]}'
    mixed = {1, "a", (2, 3), None, b"x"}
    assert dumps(mixed) == dumps(set(reversed(list(mixed))))
    assert loads(dumps(mixed)) == mixed


class _Unencodable:
    pass


@pytest.mark.parametrize(
    ("value", "what", "type_name", "path"),
    [
        ((1, {"conn": threading.Lock()}), "args", "lock", "args[1]['conn']"),
        ([asyncio.Lock()], "args", "Lock", "args[0]"),
        (_Unencodable(), "result", "_Unencodable", "at result:"),
        ({"f": lambda: None}, "payload", "function", "payload['f']"),
        ([(x for x in [])], "value", "generator", "value[0]"),
        (Item("a", tags=[object()]), "result", "object", "result.tags[0]"),
        ({object(): 1}, "payload", "object", "payload.keys()[0]"),
        ({1: object()}, "payload", "object", "payload[1]"),
        ({frozenset({object()})}, "x", "object", "x{...}{...}"),
        (types.SimpleNamespace(a=1), "value", "SimpleNamespace", "at value:"),
    ],
)
def test_unserializable_values_name_type_and_path(
    value: Any, what: str, type_name: str, path: str
) -> None:
    with pytest.raises(SerializationError) as info:
        dumps(value, what)
    message = str(info.value)
    assert f"'{type_name}'" in message
    assert path in message
    assert "steplane stores JSON types" in message
    assert "\n" not in message


def test_serialization_error_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        dumps(object())


def test_class_defined_in_a_function_is_refused_when_stored() -> None:
    @dataclasses.dataclass
    class Local:
        a: int

    with pytest.raises(SerializationError, match=r"<locals>.Local' at args\[0\].*module level"):
        dumps([Local(1)], "args")


def test_self_containing_value_is_refused() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(SerializationError, match=r"at value\[1\]: it contains itself"):
        dumps(loop)


def test_the_same_object_twice_is_fine() -> None:
    shared = [1, 2]
    assert loads(dumps([shared, shared])) == [[1, 2], [1, 2]]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b'{"$t":"nope","v":1}', "unknown tag 'nope'"),
        (
            b'{"$t":"dataclass","v":{"cls":"no_such_module_xyz:Thing","fields":{}}}',
            "'no_such_module_xyz:Thing', which is not a registered type",
        ),
        (
            b'{"$t":"dataclass","v":{"cls":"tests.test_serde:Missing","fields":{}}}',
            "'tests.test_serde:Missing', which is not a registered type",
        ),
        (b'{"$t":"dataclass","v":{"cls":"os:getcwd","fields":{}}}', "not a registered type"),
        (
            b'{"$t":"dataclass","v":{"cls":"collections:OrderedDict","fields":{}}}',
            "not a registered type",
        ),
        (b'{"$t":"enum","v":{"cls":"decimal:Decimal","value":1}}', "not a registered type"),
        (b'{"$t":"enum","v":{"cls":"tests.test_serde:Item","value":1}}', "is not an Enum"),
        (b'{"$t":"dataclass","v":{"cls":"tests.test_serde:Item","fields":{}}}', "cannot rebuild"),
        (b'{"$t":"bytes","v":"###"}', "malformed"),
        (b'{"$t":"timedelta","v":"x"}', "malformed"),
        (b'{"$t":"float","v":"1.0"}', "malformed"),
        (b'{"$t":"date"}', "malformed"),
        (b"not json", "not valid UTF-8 JSON"),
        (b"\xff\xfe", "not valid UTF-8 JSON"),
    ],
)
def test_bad_stored_data_raises_serialization_error(data: bytes, match: str) -> None:
    with pytest.raises(SerializationError, match=match):
        loads(data)


def test_huge_int_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError, match="result"):
        dumps(10 ** (sys.get_int_max_str_digits() + 10), "result")


def test_check_size() -> None:
    check_size(b"x" * 100, 100, "result")
    with pytest.raises(PayloadTooLargeError) as info:
        check_size(b"x" * int(62.9 * 1024 * 1024), 50 * 1024 * 1024, "result")
    assert str(info.value) == "result is 62.9 MB, over the 50.0 MB limit per payload"
    assert isinstance(info.value, SerializationError)


def test_check_size_shows_bytes_when_rounding_would_hide_the_excess() -> None:
    with pytest.raises(PayloadTooLargeError, match=r"payload is 1025 bytes, over the 1024 bytes"):
        check_size(b"x" * 1025, 1024, "payload")
    with pytest.raises(PayloadTooLargeError, match=r"args is 300.0 KB, over the 256.0 KB"):
        check_size(b"x" * 300 * 1024, 256 * 1024, "args")


# --- raw bytes framing -------------------------------------------------------------------------


def test_large_bytes_are_framed_raw_not_base64() -> None:
    blob = bytes(range(256)) * 64  # 16 KB
    value = {"a": blob, "b": [b"small", (blob, "text")], "c": bytearray(blob)}
    data = dumps(value)
    assert data.startswith(b"\x00SLRAW1")
    assert len(data) < 3 * len(blob) + 200  # three raw copies, no 4/3 inflation
    assert loads(data) == {"a": blob, "b": [b"small", (blob, "text")], "c": blob}
    assert loads(dumps_call([blob], {"k": blob})) == {"args": [blob], "kwargs": {"k": blob}}


def test_small_bytes_stay_plain_tagged_json() -> None:
    data = dumps(b"x" * (RAW_MIN_BYTES - 1))
    assert json.loads(data)["$t"] == "bytes"


def test_values_stored_before_framing_still_decode() -> None:
    old = b'{"$t":"bytes","v":"' + base64.b64encode(b"y" * 100_000) + b'"}'
    assert loads(old) == b"y" * 100_000


def test_the_size_of_a_value_counts_raw_bytes_at_their_length() -> None:
    assert value_size(dumps(b"z" * 100_000)) == 100_000
    nested = {"k": [b"z" * 5000, "text"]}
    assert value_size(dumps(nested)) == len(b'{"k":[,"text"]}') + 5000
    assert value_size(dumps({"plain": [1, 2]})) == len(b'{"plain":[1,2]}')
    check_size(dumps(b"z" * 100_000), 100_000, "result")
    with pytest.raises(PayloadTooLargeError, match="is 100001 bytes, over the 100000 bytes"):
        check_size(dumps(b"z" * 100_001), 100_000, "result")
    check_size(dumps_call([b"z" * 100_000], {}), 100_000, "arguments", call=True)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[:12],  # header cut short
        lambda d: d[:-1],  # raw section cut short
        lambda d: d + b"extra",
        lambda d: d.replace(b'"v":0', b'"v":7'),  # a reference to no raw value
    ],
)
def test_damaged_framing_is_a_serialization_error(damage: Any) -> None:
    with pytest.raises(SerializationError):
        loads(damage(dumps([b"q" * 5000])))


def test_raw_references_are_refused_from_outside_the_process() -> None:
    with pytest.raises(SerializationError, match="unknown tag 'raw'"):
        from_jsonable({"$t": "raw", "v": 0}, classes=False)


# --- exceptions ------------------------------------------------------------------------------


class PaymentDeclined(Exception):
    def __init__(self, reason: str, code: int = 0) -> None:
        super().__init__(reason, code)
        self.reason = reason
        self.code = code


class OnlyKeywords(Exception):
    def __init__(self, *, a: int, b: int) -> None:
        super().__init__(f"a={a} b={b}")


def _through_storage(exc: BaseException, step_name: str = "") -> BaseException:
    info = json.loads(json.dumps(encode_exception(exc)))
    return rebuild_exception(info, step_name)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad value"),
        KeyError("k"),
        ZeroDivisionError("division by zero"),
        OSError(2, "x"),
    ],
    ids=repr,
)
def test_builtin_exceptions_rebuild_as_themselves(exc: Exception) -> None:
    back = _through_storage(exc)
    assert type(back) is type(exc)
    assert back.args == exc.args
    assert str(back) == str(exc)


def test_encoded_exception_shape() -> None:
    assert encode_exception(ValueError("boom", 3)) == {
        "type": "builtins:ValueError",
        "message": "('boom', 3)",
        "args": ["boom", 3],
    }


def test_custom_exception_rebuilds_with_its_args() -> None:
    back = _through_storage(PaymentDeclined("card expired", 51))
    assert isinstance(back, PaymentDeclined)
    assert (back.reason, back.code) == ("card expired", 51)


def test_exception_with_unserializable_args_falls_back_to_message() -> None:
    info = encode_exception(ValueError(threading.Lock()))
    assert info["args"] is None
    back = rebuild_exception(info)
    assert type(back) is ValueError
    assert str(back) == info["message"]


def test_retryable_error_keeps_retry_after() -> None:
    back = _through_storage(RetryableError("rate limited", retry_after=timedelta(seconds=30)))
    assert isinstance(back, RetryableError)
    assert str(back) == "rate limited"
    assert back.retry_after == timedelta(seconds=30)


def test_unusual_init_falls_back_to_step_failed_error() -> None:
    back = _through_storage(OnlyKeywords(a=1, b=2), "charge")
    assert isinstance(back, StepFailedError)
    assert back.type_name == f"{__name__}:OnlyKeywords"
    assert back.message == "a=1 b=2"
    assert back.step_name == "charge"
    assert "charge" in str(back) and "OnlyKeywords" in str(back)


def test_class_not_imported_is_never_imported() -> None:
    info = {"type": "no_such_pkg_abc.errors:Boom", "message": "boom", "args": ["boom"]}
    back = rebuild_exception(info, "s")
    assert isinstance(back, StepFailedError)
    assert (back.type_name, back.message) == ("no_such_pkg_abc.errors:Boom", "boom")
    assert "no_such_pkg_abc" not in sys.modules
    # a real module that simply is not imported yet is not imported either
    assert "antigravity" not in sys.modules
    info = {"type": "antigravity:Nope", "message": "m", "args": None}
    assert isinstance(rebuild_exception(info), StepFailedError)
    assert "antigravity" not in sys.modules


@pytest.mark.parametrize(
    "type_name",
    ["builtins:KeyboardInterrupt", "builtins:len", "os:sep", f"{__name__}:Item"],
)
def test_non_exception_classes_are_not_rebuilt(type_name: str) -> None:
    back = rebuild_exception({"type": type_name, "message": "m", "args": []})
    assert isinstance(back, StepFailedError)


def test_exceptions_named_by_the_bare_module_of_older_logs_rebuild(monkeypatch) -> None:
    """Logs written before the `steplane.` namespace name `runtime.errors:FatalError`; a
    process that never imported the bare name still rebuilds the class."""
    monkeypatch.delitem(sys.modules, "runtime.errors", raising=False)
    back = rebuild_exception({"type": "runtime.errors:FatalError", "message": "declined"})
    assert type(back) is FatalError
    assert str(back) == "declined"
