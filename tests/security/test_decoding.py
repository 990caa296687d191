"""Reading data never runs code, and bad data never gives a silently wrong result.

Each case feeds hostile or broken data in the way it would arrive (stored value, webhook body,
CLI argument, log entry, deleted blob, foreign thread) and checks for one clear line of error,
that nothing was imported because data named it, and that nothing already recorded was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from adapters.http import create_app
from local_emulator import Emulator
from runtime import (
    CorruptedDataError,
    HookNotFoundError,
    SerializationError,
    WorkflowFailedError,
    register_type,
    resume_hook,
    serde,
    serializable,
    start,
)
from runtime.engine.events import Event, EventType
from tests.security import models
from tests.security import workflows as wf

KEY = "security-test-key"


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and text
    return text


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """An importable module whose import leaves a mark: (module name, marker file)."""
    name = f"steplane_probe_{uuid.uuid4().hex[:12]}"
    marker = tmp_path / "imported"
    (tmp_path / f"{name}.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('side effect')\n"
        "import dataclasses\n@dataclasses.dataclass\nclass X:\n    a: int = 0\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    assert name not in sys.modules and not marker.exists(), "data made the process import code"


def _tagged(tag: str, ref: str) -> dict[str, Any]:
    inner: dict[str, Any] = {"cls": ref}
    inner.update({"value": 1} if tag == "enum" else {"fields": {"a": 1}})
    return {"$t": tag, "v": inner}


# --- stored values: class tags resolve only to allowed classes ------------------------------


@pytest.mark.parametrize("tag", ["enum", "dataclass", "namedtuple"])
def test_tag_naming_an_unimported_module_imports_nothing(probe, tag) -> None:
    name, _ = probe
    data = json.dumps(_tagged(tag, f"{name}:X")).encode()
    with pytest.raises(SerializationError) as error:
        serde.loads(data)
    assert f"'{name}:X', which is not a registered type" in one_line(error.value)
    assert f"stored {tag!r} value" in str(error.value)
    assert "nothing was imported" in str(error.value)


def test_from_jsonable_imports_nothing_either(probe) -> None:
    name, _ = probe
    with pytest.raises(SerializationError, match="not a registered type"):
        serde.from_jsonable({"nested": [{"x": _tagged("dataclass", f"{name}:X")}]})


@pytest.mark.parametrize(
    ("tag", "ref"),
    [
        ("enum", "signal:Signals"),  # an imported stdlib Enum
        ("enum", "http:HTTPStatus"),
        ("namedtuple", "urllib.parse:ParseResult"),  # an imported stdlib namedtuple
        ("dataclass", "subprocess:Popen"),
        ("dataclass", "os:system"),
        ("dataclass", "collections:OrderedDict"),
    ],
)
def test_already_imported_library_classes_are_never_built(tag, ref) -> None:
    __import__(ref.partition(":")[0])
    with pytest.raises(SerializationError) as error:
        serde.loads(json.dumps(_tagged(tag, ref)).encode())
    assert f"{ref!r}, which is not a registered type" in one_line(error.value)


def test_unknown_class_in_a_workflow_module() -> None:
    with pytest.raises(SerializationError, match=r"'tests\.security\.workflows:Missing', which"):
        serde.loads(json.dumps(_tagged("dataclass", "tests.security.workflows:Missing")).encode())


def test_a_class_a_workflow_module_merely_imported_is_refused() -> None:
    # workflows.py imports `threading`, `Order` (allowed by hints anyway) and `Any`: a name
    # that only passes through a workflow module does not become decodable.
    ref = "tests.security.workflows:threading.Thread"
    with pytest.raises(SerializationError, match="not a registered type"):
        serde.loads(json.dumps(_tagged("dataclass", ref)).encode())


def test_non_dataclass_class_is_not_built() -> None:
    for ref in ("tests.security.workflows:NotAClass", "tests.security.models:PlainClass"):
        with pytest.raises(SerializationError, match="not a registered type"):
            serde.loads(json.dumps(_tagged("dataclass", ref)).encode())


def test_allowed_class_under_the_wrong_tag() -> None:
    with pytest.raises(SerializationError, match=r"models:Order', which is not an"):
        serde.loads(json.dumps(_tagged("enum", "tests.security.models:Order")).encode())


def test_class_outside_hints_and_workflow_modules_is_refused_both_ways() -> None:
    with pytest.raises(SerializationError) as error:
        serde.dumps(models.NeverHinted("s"), "result")
    assert "tests.security.models:NeverHinted is not a registered type" in one_line(error.value)
    assert "@runtime.serializable" in str(error.value)
    data = b'{"$t":"dataclass","v":{"cls":"tests.security.models:NeverHinted","fields":{}}}'
    with pytest.raises(SerializationError, match="not a registered type"):
        serde.loads(data)


def test_types_in_hints_round_trip_with_their_field_types() -> None:
    # Order is in order_flow's hints; Line only in Order's field hints; Point in a union.
    order = models.Order("o-1", [models.Line("a", 2)], models.Tier.GOLD)
    value = {"order": order, "points": (models.Point(1, 2),), "set": {models.Tier.SILVER}}
    assert serde.loads(serde.dumps(value)) == value


def test_classes_defined_in_workflow_modules_round_trip() -> None:
    assert serde.loads(serde.dumps([wf.Receipt("o", 1)])) == [wf.Receipt("o", 1)]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"order_id": "o", "lines": [], "evil": 1}, "has no field 'evil'"),
        ({"order_id": "o", "lines": [], "__class__": "x"}, "has no field '__class__'"),
        ({"lines": []}, "cannot rebuild dataclass 'tests.security.models:Order'"),
    ],
    ids=["extra-field", "dunder-field", "missing-field"],
)
def test_attacker_chosen_dataclass_fields(fields, problem) -> None:
    data = {"$t": "dataclass", "v": {"cls": "tests.security.models:Order", "fields": fields}}
    with pytest.raises(SerializationError) as error:
        serde.loads(json.dumps(data).encode())
    assert problem in one_line(error.value)


def test_attacker_chosen_namedtuple_fields() -> None:
    data = {
        "$t": "namedtuple",
        "v": {"cls": "tests.security.models:Point", "fields": {"x": 1, "y": 2, "z": 3}},
    }
    with pytest.raises(SerializationError, match=r"namedtuple '.*models:Point' has no"):
        serde.loads(json.dumps(data).encode())


@pytest.mark.parametrize("depth", [100_000, 2_000_000])
def test_deeply_nested_tags(depth) -> None:
    data = '{"$t":"tuple","v":' * 10 + "[" * depth + "]" * depth + "}" * 10
    with pytest.raises(SerializationError) as error:
        serde.loads(data.encode())
    one_line(error.value)
    with pytest.raises(SerializationError, match="nested too deeply"):
        nested: Any = []
        for _ in range(100_000):
            nested = {"$t": "tuple", "v": [nested]}
        serde.from_jsonable(nested)


def test_module_getattr_is_never_called(tmp_path, monkeypatch) -> None:
    called: list[str] = []
    module = type(sys)("steplane_getattr_probe")
    module.__getattr__ = lambda name: called.append(name)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "steplane_getattr_probe", module)
    with pytest.raises(SerializationError):
        serde.loads(json.dumps(_tagged("dataclass", "steplane_getattr_probe:Anything")).encode())
    assert serde.rebuild_exception({"type": "steplane_getattr_probe:E", "message": "m"})
    assert called == []


def test_explicit_registration(monkeypatch) -> None:
    made = dataclasses.make_dataclass("Made", [("a", int)])
    made.__module__ = __name__
    monkeypatch.setattr(sys.modules[__name__], "Made", made, raising=False)
    with pytest.raises(SerializationError, match="is not a registered type"):
        serde.dumps(made(1))
    assert serializable(made) is made
    assert serde.loads(serde.dumps(made(1))) == made(1)

    @dataclasses.dataclass
    class Local:
        a: int

    with pytest.raises(TypeError, match="defined inside a function"):
        register_type(Local)
    with pytest.raises(TypeError, match="takes an Enum, a dataclass or a namedtuple"):
        register_type(models.PlainClass)
    with pytest.raises(TypeError, match="takes an Enum"):
        register_type(len)  # type: ignore[arg-type]


# --- values from outside: plain JSON, read after the credential -----------------------------


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(modules=["tests.security.workflows"], world="memory") as emulator:
        yield emulator


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(emu.world, signing_secret="s", api_keys=[KEY])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://steplane") as http:
        yield http


async def _wait_for(run: Any, event_type: str, count: int = 1) -> list[dict[str, Any]]:
    for _ in range(500):
        events = await run.events()
        if sum(e["type"] == event_type for e in events) >= count:
            return events
        await asyncio.sleep(0.01)
    raise AssertionError(f"{run.run_id} never recorded {count} {event_type}")


async def test_webhook_tag_is_a_plain_dict_and_imports_nothing(emu, client, probe) -> None:
    name, _ = probe
    run = await start(wf.two_payloads, "web:1")
    await _wait_for(run, "hook_created")
    hostile = _tagged("enum", f"{name}:X")
    for body in (hostile, {"deep": [hostile]}):
        response = await client.post("/v1/hooks/web:1", json=body)
        assert response.status_code == 200, response.text
    assert await run.result(timeout=10) == [hostile, {"deep": [hostile]}]


async def test_webhook_checks_the_token_before_reading_the_body(emu, client, probe) -> None:
    name, _ = probe
    tagged = await client.post("/v1/hooks/not-a-token", json=_tagged("dataclass", f"{name}:X"))
    assert tagged.status_code == 404 and tagged.json() == {"error": "no live hook has this token"}
    garbage = await client.post("/v1/hooks/not-a-token", content=b"{not json")
    assert garbage.status_code == 404  # not 400: the body was never parsed


async def test_start_api_refuses_class_tags(emu, client, probe) -> None:
    name, _ = probe
    order = serde.to_jsonable(models.Order("o-1", []))  # even an allowed class, from outside
    for arg in (_tagged("dataclass", f"{name}:X"), order):
        body = {"workflow": wf.order_flow.__steplane_workflow__.name, "args": [arg]}
        response = await client.post(
            "/v1/runs", json=body, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert response.status_code == 400
        assert "names a class, which is not accepted from outside" in response.json()["error"]
    assert (await emu.world.runs.list(limit=10)).items == []


async def test_cli_hooks_resume_sends_plain_json(emu, probe, monkeypatch) -> None:
    from local_emulator import cli_runs
    from local_emulator.cli import cli

    name, _ = probe
    run = await start(wf.two_payloads, "cli:1")
    await _wait_for(run, "hook_created")
    loop = asyncio.get_running_loop()
    delivered: list[Any] = []

    def with_client(action: Any) -> Any:  # run the command's action on the emulator's World
        async def deliver() -> Any:
            return await action(emu.runtime_client)

        return asyncio.run_coroutine_threadsafe(deliver(), loop).result(timeout=10)

    monkeypatch.setattr(cli_runs, "with_client", with_client)
    hostile = _tagged("namedtuple", f"{name}:X")
    for payload in (hostile, [hostile]):
        outcome = await asyncio.to_thread(
            CliRunner().invoke, cli, ["hooks", "resume", "cli:1", json.dumps(payload)]
        )
        assert outcome.exit_code == 0, outcome.output
        delivered.append(payload)
    assert await run.result(timeout=10) == delivered


# --- silent wrong results on the memory and aws Worlds --------------------------------------


@pytest.fixture(
    params=[("memory", "inprocess"), ("memory", "http"), ("aws", "inprocess")],
    ids=["memory", "memory-http", "aws"],
)
async def world_emu(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    """Every invocation cold (cache_size=0), so replays re-read and re-decode the whole log;
    "http" sends each message, signed, to the HTTP app on uvicorn (the production path)."""
    world, invoke = request.param
    async with Emulator(
        modules=["tests.security.workflows"], world=world, invoke=invoke, cache_size=0
    ) as emulator:
        yield emulator


async def _failure(run: Any) -> WorkflowFailedError:
    with pytest.raises(WorkflowFailedError) as failure:
        await run.result(timeout=20)
    one_line(failure.value)
    return failure.value


async def test_dataclass_hints_round_trip_through_a_run(world_emu) -> None:
    order = models.Order("o-9", [models.Line("a", 1), models.Line("b", 2)], models.Tier.GOLD)
    result = await (await start(wf.order_flow, order)).result(timeout=20)
    assert result == {
        "priced": {"origin": models.Point(1, 2), "count": models.Point(2, 0)},
        "receipt": wf.Receipt("o-9", 1999),
        "order": order,
    }


@pytest.mark.parametrize("kind", ["thread", "plain-def-thread", "copied-context", "pool"])
async def test_step_called_from_another_thread_fails_the_run(world_emu, kind) -> None:
    run = await start(wf.step_from_thread, kind)
    failure = await _failure(run)
    assert failure.code == "USER_ERROR"
    assert "WorkflowThreadError" in failure.message
    assert "steps must be called from the workflow's own task" in failure.message
    assert "tests.security.workflows:" in failure.message and run.run_id in failure.message
    events = await run.events()
    completed = [e for e in events if e["type"] == "step_completed"]
    assert [e["data"] for e in completed] == [1]  # the step before is kept, nothing else ran


async def test_threads_inside_a_step_may_call_steps(world_emu) -> None:
    assert await (await start(wf.threads_in_step, 41)).result(timeout=20) == 42
    assert wf.plain_add_one(1) == 2  # outside any workflow: a plain call, from any thread
    assert await asyncio.to_thread(wf.plain_add_one, 2) == 3


async def _append(emu: Emulator, run: Any, event: Event) -> None:
    log = await emu.world.log.read(run.run_id)
    await emu.world.log.append(run.run_id, len(log), [event])


async def test_unknown_event_type_fails_the_run_as_corrupted(world_emu) -> None:
    token = f"unknown-{uuid.uuid4().hex}"
    run = await start(wf.two_payloads, token)
    await _wait_for(run, "hook_created")
    before = await run.events()
    await _append(world_emu, run, Event("lock_granted", "evt_future", world_emu.world.clock.time()))
    await resume_hook(token, "one")
    failure = await _failure(run)
    assert failure.code == "CORRUPTED_EVENT_LOG"
    assert "unknown type 'lock_granted'" in failure.message and "evt_future" in failure.message
    after = await run.events()
    assert after[: len(before)] == before
    assert [e["type"] for e in after[len(before) :]][:2] == ["lock_granted", "hook_received"]


async def test_unregistered_type_in_the_log_fails_the_replay(world_emu, probe) -> None:
    """A value recorded by a deployment whose type this one does not register."""
    name, _ = probe
    run = await start(wf.two_payloads, f"gone-{uuid.uuid4().hex}")
    events = await _wait_for(run, "hook_created")
    codec = await world_emu.host.codecs.get(run.run_id)
    data = json.dumps(_tagged("dataclass", f"{name}:X")).encode()
    hook_id = next(e for e in events if e["type"] == "hook_created")["correlation_id"]
    received = await codec.event(EventType.HOOK_RECEIVED, correlation_id=hook_id, data=data)
    await _append(world_emu, run, received)
    await world_emu.world.queue.send(
        {
            "v": 1,
            "kind": "workflow",
            "run_id": run.run_id,
            "workflow": wf.two_payloads.__steplane_workflow__.name,
        }
    )
    failure = await _failure(run)
    assert failure.code == "RUNTIME_ERROR"
    assert f"'{name}:X', which is not a registered type" in failure.message
    with pytest.raises(SerializationError, match="not a registered type"):
        await run.events()  # the stored value stays unreadable here, but nothing is lost:
    kept = [e.type for e in await world_emu.world.log.read(run.run_id)]
    assert kept[: len(events) + 1] == [*(e["type"] for e in events), "hook_received"]
    assert kept[-1] == "run_failed"


async def test_missing_blob_is_corrupted_data_and_fails_the_run(world_emu) -> None:
    token = f"blob-{uuid.uuid4().hex}"  # Run.events() shows it redacted (runtime/describe.py)
    run = await start(wf.two_payloads, token)
    await _wait_for(run, "hook_created")
    big = "x" * (world_emu.world.limits.inline_payload_bytes * 2)
    await resume_hook(token, big)
    await _wait_for(run, "hook_received")
    log = await world_emu.world.log.read(run.run_id)
    received = next(e for e in log if e.type == EventType.HOOK_RECEIVED)
    key = received.attrs["blob"]
    await world_emu.world.blobs.delete_prefix(key)
    with pytest.raises(CorruptedDataError) as error:
        await run.events()
    assert run.run_id in one_line(error.value) and received.event_id in str(error.value)
    assert repr(key) in str(error.value) and "missing" in str(error.value)
    # The invocation woken by the first payload may read the deleted blob and fail the run
    # before this: then the hook is gone already. Either way the run ends corrupted.
    with contextlib.suppress(HookNotFoundError):
        await resume_hook(token, "second")
    failure = await _failure(run)
    assert failure.code == "CORRUPTED_EVENT_LOG"
    assert "CorruptedDataError" in failure.message and key in failure.message
    kept = await world_emu.world.log.read(run.run_id)
    assert [e.event_id for e in kept[: len(log)]] == [e.event_id for e in log]


async def test_terminal_status_without_an_ending_event_is_a_clear_error(world_emu) -> None:
    from runtime.engine.events import RunStatus

    run = await start(wf.sleeper)
    await _wait_for(run, "wait_created")
    now = world_emu.world.clock.time()
    await world_emu.world.runs.update_status(run.run_id, RunStatus.COMPLETED, updated_at=now)
    with pytest.raises(CorruptedDataError) as error:
        await run.result(timeout=5)
    assert "has no ending event" in one_line(error.value) and run.run_id in str(error.value)
