"""DynamoDB attribute values rendered without moto's generic serializer
(local_emulator/aws/moto_attribute_values.py) must come out exactly as moto renders them:
the same response body for any item moto could hold, nested maps and lists, `None` members
and odd keys included (those go to moto's serializer, whole)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.core.serialize import BaseJSONSerializer, JSONSerializer, XFormedAttributePicker
from moto.core.utils import get_service_model

from local_emulator.aws import moto_patches

moto_patches.install()
DIRECT = BaseJSONSerializer._serialize_type_structure
GENERIC = DIRECT.generic  # type: ignore[attr-defined]
MODEL = get_service_model("dynamodb")  # moto's own model classes, as its responses use

text = st.text(max_size=8)
numbers = st.integers(-(10**6), 10**6).map(str)
binary = st.binary(max_size=16)
leaves = st.one_of(
    st.builds(lambda v: {"S": v}, text),
    st.builds(lambda v: {"N": v}, numbers),
    st.builds(lambda v: {"B": v}, binary),
    st.builds(lambda v: {"SS": v}, st.lists(text, max_size=3)),
    st.builds(lambda v: {"NS": v}, st.lists(numbers, max_size=3)),
    st.builds(lambda v: {"BS": v}, st.lists(binary, max_size=3)),
    st.just({"NULL": True}),
    st.builds(lambda v: {"BOOL": v}, st.booleans()),
    st.just({}),
    st.builds(lambda v: {"S": None, "N": v}, numbers),  # a member that is None is left out
    st.builds(lambda v: {"s": v}, text),  # not a member name: moto's serializer decides
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda v: {"M": v}, st.dictionaries(text, st.none() | inner, max_size=3)),
        st.builds(lambda v: {"L": v}, st.lists(st.none() | inner | text, max_size=3)),
    ),
    max_leaves=12,
)
items = st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=5)


def render(operation: str, result: dict[str, Any], structure: Callable[..., None]) -> Any:
    serializer = JSONSerializer(
        operation_model=MODEL.operation_model(operation),
        pretty_print=False,
        value_picker=XFormedAttributePicker(response_transformers={}),
    )
    BaseJSONSerializer._serialize_type_structure = structure  # type: ignore[method-assign]
    try:
        return serializer.serialize(result)["body"]
    finally:
        BaseJSONSerializer._serialize_type_structure = DIRECT  # type: ignore[method-assign]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(item=items)
def test_an_item_renders_as_moto_renders_it(item: dict[str, Any]) -> None:
    assert render("GetItem", {"Item": item}, DIRECT) == render("GetItem", {"Item": item}, GENERIC)


@settings(max_examples=100, deadline=None)
@given(found=st.lists(items, max_size=4), last=st.none() | items)
def test_a_page_of_items_renders_as_moto_renders_it(
    found: list[dict[str, Any]], last: dict[str, Any] | None
) -> None:
    page: dict[str, Any] = {"Items": found, "Count": len(found), "ScannedCount": len(found)}
    if last is not None:
        page["LastEvaluatedKey"] = last
    assert render("Query", page, DIRECT) == render("Query", page, GENERIC)


@pytest.mark.parametrize(
    "item",
    [
        {"h": {"S": "k"}, "blob": {"B": b"\x00\xff"}, "set": {"BS": [b"a", b"b"]}},
        {"m": {"M": {"gone": None, "kept": {"L": [None, {"N": "1"}]}}}},
        {"odd": {"L": ["a string where a value should be"]}},  # moto's serializer renders it
    ],
)
def test_the_cases_that_matter_most(item: dict[str, Any]) -> None:
    assert render("GetItem", {"Item": item}, DIRECT) == render("GetItem", {"Item": item}, GENERIC)


def test_it_is_installed_and_used_by_the_embedded_moto() -> None:
    from moto.core import serialize

    assert serialize.BaseJSONSerializer._serialize_type_structure is DIRECT
    assert DIRECT is not GENERIC
