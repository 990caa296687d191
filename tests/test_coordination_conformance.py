"""The coordination store's contract on every World (conftest.WORLD_FACTORIES): versioned
compare-and-set items, one winner among racing writers, clear errors for bad input."""

from __future__ import annotations

import asyncio

import pytest

from runtime.world import MAX_COORDINATION_BYTES, CoordinationStore, World


async def test_coordination_is_part_of_the_world(world: World) -> None:
    store = world.coordination
    declared = {n for n in vars(CoordinationStore) if not n.startswith("_")}
    assert {n for n in declared if not hasattr(store, n)} == set()


async def test_put_then_get_and_versions_advance_by_one(world: World) -> None:
    store = world.coordination
    assert await store.get("lock#a") is None
    assert await store.put("lock#a", {"holders": {"r1": 1.5}}, 1)
    item = await store.get("lock#a")
    assert item is not None and item.version == 1 and item.data == {"holders": {"r1": 1.5}}
    assert not await store.put("lock#a", {"x": 1}, 1)  # version 1 exists already
    assert not await store.put("lock#a", {"x": 1}, 3)  # skips a version
    assert await store.put("lock#a", {"x": [1, "two"]}, 2)
    item = await store.get("lock#a")
    assert item is not None and (item.data, item.version) == ({"x": [1, "two"]}, 2)
    assert await store.get("lock#b") is None  # keys are independent


async def test_racing_writers_of_one_version_have_one_winner(world: World) -> None:
    store = world.coordination
    for round_ in range(5):
        key = f"race#{round_}"
        results = await asyncio.gather(*(store.put(key, {"w": i}, 1) for i in range(8)))
        assert results.count(True) == 1
        item = await store.get(key)
        assert item is not None and item.data == {"w": results.index(True)}


async def test_a_read_copy_cannot_change_the_stored_item(world: World) -> None:
    store = world.coordination
    await store.put("k", {"list": [1]}, 1)
    item = await store.get("k")
    assert item is not None
    item.data["list"].append(2)
    again = await store.get("k")
    assert again is not None and again.data == {"list": [1]}


@pytest.mark.parametrize("key", ["", "x" * 513, 7])
async def test_bad_keys_are_refused(world: World, key: object) -> None:
    with pytest.raises(ValueError, match="coordination key"):
        await world.coordination.put(key, {}, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="coordination key"):
        await world.coordination.get(key)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [0, -1, True, 1.0])
async def test_bad_versions_are_refused(world: World, version: object) -> None:
    with pytest.raises(ValueError, match="version"):
        await world.coordination.put("k", {}, version)  # type: ignore[arg-type]


async def test_an_oversized_item_is_refused_and_nothing_is_written(world: World) -> None:
    with pytest.raises(ValueError, match="over"):
        await world.coordination.put("big", {"x": "y" * MAX_COORDINATION_BYTES}, 1)
    assert await world.coordination.get("big") is None
