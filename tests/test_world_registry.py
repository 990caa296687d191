"""`STEPLANE_WORLD=NAME` finds a World by the name it registered under: in process
(`register_world`) or as a `steplane.worlds` entry point of an installed distribution; the
runtime names no adapter."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from adapters.memory import MemoryWorld
from adapters.worlds import WORLDS
from runtime import world_registry
from runtime.config import world_from_env
from runtime.errors import ConfigurationError
from runtime.world_registry import ENTRY_POINT_GROUP, known_worlds, register_world

ROOT = Path(__file__).resolve().parents[1]


class NamedWorld(MemoryWorld):
    name = "custom"


def make_named_world() -> NamedWorld:
    return NamedWorld()


@pytest.fixture(autouse=True)
def own_registrations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test registers on a copy: what it adds is gone afterwards."""
    monkeypatch.setattr(world_registry, "_registered", dict(world_registry._registered))
    monkeypatch.delenv("STEPLANE_STACK", raising=False)


async def test_the_built_in_names_build_their_worlds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPLANE_WORLD", "memory")
    world = world_from_env()
    assert isinstance(world, MemoryWorld)
    await world.close()
    assert {"memory", "aws"} <= set(known_worlds())


async def test_a_registered_world_is_built_by_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    register_world("custom", make_named_world)
    monkeypatch.setenv("STEPLANE_WORLD", "custom")
    world = world_from_env()
    assert isinstance(world, NamedWorld)
    await world.close()


async def test_a_module_factory_spec_is_imported_as_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STEPLANE_WORLD", "tests.test_world_registry:make_named_world")
    world = world_from_env()
    assert isinstance(world, NamedWorld)
    await world.close()


def test_an_unknown_name_is_one_line_listing_the_known_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STEPLANE_WORLD", "mmeory")
    with pytest.raises(ConfigurationError) as raised:
        world_from_env()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("STEPLANE_WORLD='mmeory' is not a known World (known: ")
    assert "aws, memory" in message


def test_a_spec_that_cannot_be_loaded_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPLANE_WORLD", "no_such_module_xyz:factory")
    with pytest.raises(ConfigurationError, match="cannot load 'no_such_module_xyz:factory'"):
        world_from_env()


async def test_an_installed_distributions_entry_point_is_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A third-party World, installed: nothing in this process registered it."""
    info = tmp_path / "steplane_custom_world-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: steplane-custom-world\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nthirdparty = tests.test_world_registry:make_named_world\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "thirdparty" in known_worlds()
    monkeypatch.setenv("STEPLANE_WORLD", "thirdparty")
    world = world_from_env()
    assert isinstance(world, NamedWorld)
    await world.close()


def test_a_world_name_is_not_a_module_path() -> None:
    with pytest.raises(ValueError, match="a World name is a word"):
        register_world("my.world", make_named_world)


def test_the_distributions_entry_points_are_the_adapters_worlds() -> None:
    """pyproject.toml declares what `adapters.worlds` registers where there is no metadata."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"][ENTRY_POINT_GROUP] == WORLDS
