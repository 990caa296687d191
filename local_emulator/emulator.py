"""`Emulator`: a World plus a function host that drains its queue the way Lambda's SQS event
source mapping does (batches, N concurrent invocations, visibility timeout, retries with
backoff, dead-letter after `max_receives`), so a laptop or a test runs the same code path as
production.

Inside `async with`, the emulator's World is the current one, so workflow code and scripts can
use the module-level `start()`; `emu.runtime_client` acts on this emulator's World whatever is
current (several emulators, or an app of another World, in one process).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib
import logging
import secrets
import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any

from steplane.runtime.client import Client
from steplane.runtime.config import set_world
from steplane.runtime.deployment import swap_deployment_id
from steplane.runtime.engine.give_up import Verdict
from steplane.runtime.engine.host import FunctionHost
from steplane.runtime.engine.recovery import reconcile
from steplane.runtime.engine.retention import Retention, SweepResult
from steplane.runtime.errors import ConfigurationError
from steplane.runtime.extras import requires_extra
from steplane.runtime.ids import check_deployment_id
from steplane.runtime.schedules import registered_schedules
from steplane.runtime.scheduling import fire
from steplane.runtime.world import Delivery, RealClock, World

from .clock import VirtualClock

log = logging.getLogger("steplane.emulator")

_RETRY_BACKOFF_CAP = 5.0
RETAIN_EVERY_SECONDS = 5.0
"""How often retention sweeps (`Emulator(retain_runs=N)`)."""


class Emulator:
    """Run workflows locally. Use as `async with Emulator(...) as emu:`."""

    def __init__(
        self,
        modules: Iterable[str] | None = None,
        world: str | World = "aws",
        concurrency: int = 4,
        invoke: str = "inprocess",
        virtual_time: bool = False,
        *,
        deliver_twice: bool = False,
        max_receives: int = 5,
        visibility_timeout: float = 300.0,
        cache_size: int = 256,
        reconcile_every: float | None = 30.0,
        stall_seconds: float = 300.0,
        deployment: str | None = None,
        retain_runs: int | None = None,
        retain_every: float = RETAIN_EVERY_SECONDS,
    ) -> None:
        """`retain_runs`: keep the data of only this many ended runs (the newest), purging
        older ended runs every `retain_every` seconds (runtime/engine/retention.py); None
        keeps every run (the default here; `steplane dev` keeps 1,000)."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if invoke not in ("inprocess", "http"):
            raise ConfigurationError(f"invoke={invoke!r}: use 'inprocess' or 'http'")
        self.modules = list(modules or [])
        self.invoke = invoke
        self.world_kind = world
        self.concurrency = concurrency
        self.virtual_time = virtual_time
        self._clock_holds = 0
        self.deliver_twice = deliver_twice
        self.max_receives = max_receives
        self.visibility_timeout = visibility_timeout
        self.cache_size = cache_size
        self.reconcile_every = reconcile_every
        self.stall_seconds = stall_seconds
        if retain_runs is not None and retain_runs < 1:
            raise ValueError(f"retain_runs must be >= 1 (None keeps every run), got {retain_runs}")
        if retain_every <= 0:
            raise ValueError(f"retain_every must be > 0, got {retain_every}")
        self.retain_runs = retain_runs
        self.retain_every = retain_every
        self.purged = 0
        """Ended runs retention purged so far."""
        self.deployment = None if deployment is None else check_deployment_id(deployment)
        """The deployment this emulator's host serves and its starts pin runs to (default:
        the loaded code's, runtime/deployment.py)."""
        self.clock = VirtualClock() if virtual_time else RealClock()
        self.errors: list[str] = []
        self.invocation_counts: collections.Counter[str] = RecentRunCounter()
        self.world: World
        self.host: FunctionHost
        self.runtime_client: Client
        """Starts, lists and resumes runs in this emulator's World (`runtime.Client`)."""
        self._twin: FunctionHost | None = None
        self._poller: asyncio.Task[None] | None = None
        self._reconciler: asyncio.Task[None] | None = None
        self._retainer: asyncio.Task[None] | None = None
        self._retention: Retention | None = None
        self._in_flight: dict[asyncio.Task[None], float] = {}  # -> when it began (monotonic)
        self._previous_world: World | None = None
        self._http: _HttpFunctionHost | None = None
        self._previous_deployment: str | None = None
        self._next_fires: dict[str, float] = {}
        self.fired: list[tuple[str, float]] = []
        """(schedule, fire time) of every fire this emulator made (paused ones too), in order."""

    # --- lifetime --------------------------------------------------------------------------

    async def __aenter__(self) -> Emulator:
        for module in self.modules:
            importlib.import_module(module)
        self.world = self._build_world()
        if self.deployment is not None:
            self._previous_deployment = swap_deployment_id(self.deployment)
        # Invocations that wait in place for their queued steps (engine/wait_in_place.py)
        # hold a worker: at most half of them may, so the steps they wait for can run.
        hosting = {
            "cache_size": self.cache_size,
            "deployment": self.deployment,
            "max_waiting": self.concurrency // 2,
        }
        self.host = FunctionHost(self.world, **hosting)
        self.runtime_client = Client(self.world)
        self._twin = FunctionHost(self.world, **hosting) if self.deliver_twice else None
        self._previous_world = set_world(self.world)
        if self.invoke == "http":
            try:
                self._http = await _HttpFunctionHost.start(self)
            except BaseException:
                set_world(self._previous_world)
                await self.world.close()
                raise
        now = self.clock.time()
        self._next_fires = {s.name: s.next_after(now) for s in self._schedules()}
        self._poller = asyncio.create_task(self._poll(), name="steplane-poller")
        if self.reconcile_every is not None:
            self._reconciler = asyncio.create_task(self._reconcile(), name="steplane-reconciler")
        if self.retain_runs is not None:
            purger = _Purger(self.host, self._twin)
            self._retention = Retention(self.world, purger, self.retain_runs)
            self._retention.start()
            self._retainer = asyncio.create_task(self._retain(), name="steplane-retention")
        return self

    async def __aexit__(self, _type: object, error: object, _tb: object) -> None:
        if isinstance(error, Exception):
            with contextlib.suppress(Exception):  # never in the way of the error or the cleanup
                self._explain(error)
        background = (self._poller, self._reconciler, self._retainer)
        tasks = [t for t in (*background, *self._in_flight) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.stop()
            self._http = None
        for host in (self.host, self._twin):
            if host is not None:
                host.forget_instances()
        if self._retention is not None:
            self._retention.stop()
        set_world(self._previous_world)
        if self.deployment is not None:
            swap_deployment_id(self._previous_deployment)
        if isinstance(self.world_kind, str):  # a World the caller gave stays open for them
            await self.world.close()

    def _explain(self, error: Exception) -> None:
        """Add to an error leaving the `async with` block (a test's `run.result()` timing out,
        say) what this emulator saw go wrong meanwhile, which is otherwise only logged, and
        what it is doing: which invocations run, since when, and when the queue next has work."""
        if self.errors:
            last = "; ".join(self.errors[-5:])
            error.add_note(f"the emulator's errors ({len(self.errors)}, the last 5): {last}")
        now = time.monotonic()
        running = [f"{task.get_name()} for {now - t:.1f} s" for task, t in self._in_flight.items()]
        due = self.world.queue.next_visible_at()
        queue = "none held" if due is None else f"the next due in {due - self.clock.time():.1f} s"
        plural = "" if len(running) == 1 else "s"
        error.add_note(
            f"the emulator: {len(running)} invocation{plural} running"
            f" ({', '.join(running[:5])}); delayed messages: {queue}"
        )

    def _build_world(self) -> World:
        if not isinstance(self.world_kind, str):  # a World the caller made (e.g. on a moto server)
            if self.virtual_time:
                self.world_kind.clock = self.clock
            else:
                self.clock = self.world_kind.clock
            return self.world_kind
        if self.world_kind == "memory":
            from steplane.adapters.memory import MemoryWorld

            return MemoryWorld(clock=self.clock, max_receives=self.max_receives)
        if self.world_kind == "aws":
            # moto in this process (mock_aws); closing the World stops it and drops its state.
            with requires_extra("local"):
                from .aws.embedded import start_embedded_world

                return start_embedded_world(self.clock, max_receives=self.max_receives)
        raise ConfigurationError(f"world={self.world_kind!r} is unknown; use 'aws' or 'memory'")

    # --- what tests and tools look at ------------------------------------------------------

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP app (`invoke="http"` only): run API, webhooks, streams."""
        if self._http is None:
            raise ConfigurationError("the HTTP app is served only with invoke='http'")
        return self._http.base_url

    @property
    def api_key(self) -> str:
        """An API key the HTTP app accepts, decrypting included (`invoke="http"` only)."""
        if self._http is None:
            raise ConfigurationError("the HTTP app is served only with invoke='http'")
        return self._http.api_key

    def client(self, service: str) -> Any:
        """A boto3 client bound to the emulated AWS (`world="aws"` or an AWS World only)."""
        if self.world.name == "aws":  # checked first: the memory World needs no boto3
            from steplane.adapters.aws import AwsWorld

            if isinstance(self.world, AwsWorld):
                return self.world.aws.client(service)
        raise ConfigurationError(
            f"emu.client({service!r}) needs the AWS World, not {self.world.name!r}"
        )

    def workflow_invocations(self, run_id: str) -> int:
        """How many workflow invocations processed this run (duplicates included)."""
        return self.invocation_counts[f"workflow:{run_id}"]

    # --- the event source mapping ----------------------------------------------------------

    async def _poll(self) -> None:
        """The mapping's loop. It never stops on an error (as Lambda's mapping does not): a
        poller that died would leave every run of this emulator pending, silently."""
        while True:
            try:
                await self._poll_once()
            except Exception as error:  # a failed receive, or a bug in the loop itself
                self.errors.append(f"{type(error).__name__}: {error}")
                log.warning("poll failed: %s", error, exc_info=log.isEnabledFor(logging.DEBUG))
                await asyncio.sleep(0.05)

    async def _poll_once(self) -> None:
        await self._fire_schedules()
        free = self.concurrency - len(self._in_flight)
        if free <= 0:
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            return
        idle = not self._in_flight
        deliveries = await self.world.queue.receive(
            max_messages=min(free, 10),
            wait_seconds=0.0 if idle and self.virtual_time else 0.05,
            visibility_timeout=self.visibility_timeout,
        )
        for delivery in deliveries:
            task = asyncio.create_task(self._invoke(delivery), name=_describe(delivery.body))
            self._in_flight[task] = time.monotonic()
            task.add_done_callback(self._in_flight.pop)
        if not deliveries and idle and self.virtual_time:
            if not self._skip_ahead():
                await asyncio.sleep(0.02)  # nothing delayed either: wait for new work
            else:
                await asyncio.sleep(0)  # a skip with nothing to run: let others in

    async def _reconcile(self) -> None:
        """The reconciler, as a deployment's schedule runs it: every `reconcile_every` real
        seconds, re-wake runs without progress for `stall_seconds` of World time (with
        virtual time that clock jumps, so a stalled run is found sooner, never a busy one:
        work in flight keeps the clock from skipping ahead)."""
        assert self.reconcile_every is not None
        while True:
            await asyncio.sleep(self.reconcile_every)
            try:
                await reconcile(self.host, stall=self.stall_seconds)
            except Exception as error:
                self.errors.append(f"reconcile: {type(error).__name__}: {error}")
                log.warning("reconcile pass failed: %s", error)

    async def _retain(self) -> None:
        """Retention (runtime/engine/retention.py): every `retain_every` real seconds, purge
        the ended runs beyond the `retain_runs` newest."""
        while True:
            await asyncio.sleep(self.retain_every)
            try:
                await self.sweep_retention()
            except Exception as error:
                self.errors.append(f"retention: {type(error).__name__}: {error}")
                log.warning("retention pass failed: %s", error)

    async def sweep_retention(self, *, full: bool = False) -> SweepResult:
        """One retention pass now: purge the ended runs beyond the `retain_runs` most
        recently ended, through this emulator's host, which holds each run's lock while its
        data goes (the twin host of `deliver_twice` forgets them too). `full`: list the
        World's runs first, for endings this process did not apply."""
        if self._retention is None:
            raise ConfigurationError("no retention here: Emulator(retain_runs=N)")
        result = await self._retention.sweep(full=full)
        self.purged += result.purged
        return result

    def _schedules(self) -> list[Any]:
        """The schedules of the modules this emulator serves: a schedule another test or
        emulator in this process registered must not fire here, nor pull virtual time to it."""
        served = set(self.modules)
        return [s for s in registered_schedules() if s.workflow.fn.__module__ in served]

    async def _fire_schedules(self) -> None:
        """Start the runs of due schedules, as EventBridge Scheduler does on AWS."""
        if not self._next_fires:
            return
        now = self.clock.time()
        for schedule in self._schedules():
            due = self._next_fires.get(schedule.name)
            if due is None or due > now:
                continue
            self._next_fires[schedule.name] = schedule.next_after(due)
            self.fired.append((schedule.name, due))  # before: a pause racing it sees it
            try:
                await fire(self.world, schedule, due)
            except Exception as error:  # a failed fire never stops the emulator
                self.errors.append(f"schedule {schedule.name}: {type(error).__name__}: {error}")

    @contextlib.contextmanager
    def holding_time(self) -> Iterator[None]:
        """With virtual time: no skip-ahead inside the block, so a sequence of client calls
        happens within real seconds of each other, as it would in production (a burst of
        debounced starts, a hook resumed before a short sleep is due). Without it the clock
        jumps whenever no invocation runs, which may be between two of the calls."""
        self._clock_holds += 1
        try:
            yield
        finally:
            self._clock_holds -= 1

    def _skip_ahead(self) -> bool:
        """Nothing is running and nothing is visible: jump to the next delayed message (or
        the next schedule's fire, whichever comes first)."""
        if self._clock_holds:
            return False
        times = [t for t in (self.world.queue.next_visible_at(), *self._next_fires.values()) if t]
        next_visible = min(times) if times else None
        if next_visible is None or not isinstance(self.clock, VirtualClock):
            return False
        self.clock.advance_to(next_visible)
        return True

    async def _invoke(self, delivery: Delivery) -> None:
        """One delivery, as Lambda's mapping makes it: the host decides what a failure means
        (runtime/engine/give_up.py); here a settled message is deleted and a failed one comes back
        after a backoff, until the queue moves it to the dead-letter queue."""
        body = delivery.body
        copies = 2 if self._twin is not None else 1
        if isinstance(body, dict):
            self.invocation_counts[_describe(body)] += copies
            self.invocation_counts[str(body.get("kind"))] += copies
        heartbeat = asyncio.create_task(self._keep_invisible(delivery))
        try:
            if self._http is not None:
                calls = self._http.handlers(delivery, twin=self._twin is not None)
            else:
                calls = [self.host.process(body, receive_count=delivery.receive_count)]
                if self._twin is not None:
                    calls.append(self._twin.process(_copy(body), receive_count=1))
            verdicts = await asyncio.gather(*calls)
            failed = [v for v in verdicts if not v.settled]
            for verdict in verdicts:
                if verdict.error is not None:
                    self._note(delivery, verdict.outcome, verdict.error)
            if failed:
                backoff = min(_RETRY_BACKOFF_CAP, 0.05 * 2**delivery.receive_count)
                await self.world.queue.change_visibility(delivery, backoff)
            else:
                await self.world.queue.delete(delivery)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the queue itself failed: the message comes back anyway
            self._note(delivery, "failed", error)
        finally:
            heartbeat.cancel()

    def _note(self, delivery: Delivery, outcome: str, error: BaseException) -> None:
        line = f"{type(error).__name__}: {error}"
        self.errors.append(line)
        log.warning(
            "message %s %s (receive %d): %s", delivery.body, outcome, delivery.receive_count, line
        )

    async def _keep_invisible(self, delivery: Delivery) -> None:
        """Extend the message's visibility while a long invocation runs, so no other consumer
        receives it meanwhile (Lambda's mapping relies on the function timeout instead)."""
        while True:
            await asyncio.sleep(self.visibility_timeout / 2)
            await self.world.queue.change_visibility(delivery, self.visibility_timeout)


class _Purger:
    """Purges through the emulator's host; its twin forgets the run as well."""

    def __init__(self, host: FunctionHost, twin: FunctionHost | None) -> None:
        self.host, self.twin = host, twin

    async def purge_run(self, run_id: str) -> bool:
        purged = await self.host.purge_run(run_id)
        if purged and self.twin is not None:
            self.twin.forget_run(run_id)
        return purged


class RecentRunCounter(collections.Counter[str]):
    """Invocations by kind ("workflow") and by kind and run ("workflow:run_..."); the per-run
    counts of only the `limit` most recently counted keys are kept, so a host that runs for
    days (`steplane dev`) does not keep a counter for every run it ever served."""

    def __init__(self, limit: int = 8192) -> None:
        super().__init__()
        self._limit = limit
        self._runs: collections.OrderedDict[str, None] = collections.OrderedDict()

    def __setitem__(self, key: str, value: int) -> None:
        super().__setitem__(key, value)
        if ":" in key:
            self._runs[key] = None
            self._runs.move_to_end(key)
            while len(self._runs) > self._limit:
                del self[self._runs.popitem(last=False)[0]]


def _describe(body: object) -> str:
    """An invocation's name for people: its message's kind and run."""
    if isinstance(body, dict):
        return f"{body.get('kind')}:{body.get('run_id')}"
    return "malformed message"


def _copy(body: Any) -> Any:
    return dict(body) if isinstance(body, dict) else body


# --- invoke="http": the function host behind the HTTP app, served by uvicorn ---------------


class _HttpFunctionHost:
    """The emulator's hosts behind `create_app`, served by uvicorn on 127.0.0.1 in this loop.

    Each message is POSTed, signed with a random per-emulator secret, exactly as a queue
    forwarder would deliver it to a deployed host. With `deliver_twice`, the twin host sits
    behind a second app mounted at `/twin`, so both deliveries go through HTTP. uvicorn,
    Starlette and httpx are imported only here: `invoke="inprocess"` does not need them.
    """

    def __init__(
        self, server: Any, task: asyncio.Task[None], client: Any, base_url: str, api_key: str
    ) -> None:
        from steplane.adapters.http.client import InvocationRejectedError

        self._rejected: type[Exception] = InvocationRejectedError
        self._server = server
        self._task = task
        self._client = client
        self.base_url = base_url
        self.api_key = api_key

    @classmethod
    async def start(cls, emulator: Emulator) -> _HttpFunctionHost:
        with requires_extra("local"):
            import uvicorn
        from starlette.applications import Starlette
        from starlette.routing import Mount

        from steplane.adapters.http import create_app
        from steplane.adapters.http.client import InvokeClient

        class Server(uvicorn.Server):
            def __init__(self, config: uvicorn.Config) -> None:
                super().__init__(config)
                self.stopping = asyncio.Event()

            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield  # signals belong to the application that embeds the emulator

            async def main_loop(self) -> None:
                await self.on_tick(0)  # sets the default headers
                await self.stopping.wait()  # instead of polling `should_exit` every 100 ms

        secret, api_key = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        keys = {"signing_secret": secret, "api_keys": [api_key], "decrypt_api_keys": [api_key]}
        app = create_app(emulator.world, host=emulator.host, **keys)
        if emulator._twin is not None:
            twin = create_app(emulator.world, host=emulator._twin, **keys)
            app = Starlette(routes=[Mount("/twin", app=twin), Mount("", app=app)])
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted connections only for
        # sockets whose `proto` says TCP; without it every response waits ~40 ms for an ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))  # a free port, known before the server starts
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        server = Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="steplane-http")
        while not server.started:
            if task.done():
                sock.close()
                await task  # raises why the server could not start
                raise ConfigurationError("the HTTP function host stopped while starting")
            await asyncio.sleep(0.005)
        base_url = f"http://127.0.0.1:{port}"
        client = InvokeClient(
            base_url,
            secret,
            timeout=emulator.visibility_timeout,
            max_connections=2 * emulator.concurrency + 4,
        )
        return cls(server, task, client, base_url, api_key)

    def handlers(self, delivery: Delivery, *, twin: bool) -> list[Any]:
        calls = [self._invoke(delivery.body, delivery.receive_count, "/invoke")]
        if twin:
            calls.append(self._invoke(delivery.body, 1, "/twin/invoke"))
        return calls

    async def _invoke(self, body: Any, receive_count: int, path: str) -> Verdict:
        """The app's answer as a verdict: 200 done, 400 settled (the host ended the run if
        there was one), anything else delivered again."""
        try:
            await self._client.invoke(body, receive_count=receive_count, path=path)
        except self._rejected as error:
            return Verdict("rejected", error)
        except Exception as error:
            return Verdict("failed", error)
        return Verdict("ok")

    async def stop(self) -> None:
        await self._client.aclose()
        self._server.should_exit = True
        self._server.stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
