"""`steplane dev` in the background and one headless Chromium for the whole browser suite.

The dev server starts first (it takes seconds: a moto server and the deployment's stack), and
Chromium starts while it does. The browser is Debian's `chromium` driven by its
`chromium-driver` through selenium; nothing is downloaded. Where no chromium is installed the
browser tests skip, saying what to install (`.ci/run` installs it where apt can).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEPLANE = shutil.which("steplane", path=str(Path(sys.executable).parent)) or "steplane"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver", "chromium-driver")
INSTALL_HINT = "apt-get install -y chromium chromium-driver"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Dev:
    """A running `steplane dev`: its address, API key and emulated AWS endpoint."""

    url: str
    api_key: str
    endpoint_url: str
    prefix: str
    region: str
    state_file: Path

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """The run API with the dev server's key (as a script would call it)."""
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def start(self, workflow: str, *args: Any) -> str:
        return str(
            self.api("POST", "/v1/runs", {"workflow": workflow, "args": list(args)})["run_id"]
        )

    def wait_status(self, run_id: str, wanted: set[str], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            status = str(self.api("GET", f"/v1/runs/{run_id}")["status"])
            if status in wanted:
                return status
            assert time.monotonic() < deadline, f"{run_id} is still {status}, not {wanted}"
            time.sleep(0.1)

    @functools.cached_property
    def _config(self) -> Any:
        """The dev stack's outputs: how a process reaches this server's World (as the CLI)."""
        from adapters.aws.stack_outputs import config_from_stack

        credentials = {"access_key_id": "testing", "secret_access_key": "testing"}
        return config_from_stack(
            self.prefix, endpoint_url=self.endpoint_url, region=self.region, **credentials
        )

    def with_client(self, action: Callable[[Any], Awaitable[T]]) -> T:
        """`action(client)` with a `Client` of this server's World, from the test process (as
        a script or an older deployment's code would start runs); the World closed after."""
        from adapters.aws import AwsWorld
        from runtime import Client

        async def main() -> T:
            client = Client(AwsWorld(self._config))
            try:
                return await action(client)
            finally:
                await client.world.close()

        return asyncio.run(main())

    @functools.cached_property
    def _s3(self) -> tuple[Any, str]:
        """An S3 client of the emulated AWS, and the deployment's bucket (made once)."""
        import boto3

        config = self._config
        s3 = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        return s3, config.bucket

    def audit_records(self, run_id: str) -> list[dict[str, Any]]:
        """The decrypt audit records of `run_id`, read from the emulated S3 bucket."""
        s3, bucket = self._s3
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"audit/{run_id}/")
        return [
            json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            for item in listed.get("Contents", [])
        ]

    def steplane(self, *args: str) -> Any:
        """A `steplane` command finding this server by its state file, as from another shell
        (click's runner in this process: an interpreter start per command costs seconds)."""
        from click.testing import CliRunner

        from local_emulator.cli import cli

        env = {k: None for k in os.environ if k.startswith("STEPLANE_")}
        env["STEPLANE_DEV_STATE"] = str(self.state_file)
        return CliRunner().invoke(cli, list(args), env=env, prog_name="steplane")


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("STEPLANE_")}


@pytest.fixture(scope="package")
def dev_process() -> Iterator[tuple[subprocess.Popen[bytes], Path, int]]:
    """`steplane dev tests.browser.ui_workflows` started (not yet waited for)."""
    with tempfile.TemporaryDirectory(prefix="steplane-ui-") as directory:
        state = Path(directory) / "dev.json"
        port = free_port()
        process = subprocess.Popen(
            [STEPLANE, "dev", "tests.browser.ui_workflows", "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=_clean_env() | {"STEPLANE_DEV_STATE": str(state)},
        )
        try:
            yield process, state, port
        finally:
            # A clean stop is tests/test_cli.py's business; here it only cost 2-3 s. Everything
            # `steplane dev` runs (moto server, host, uvicorn) is in its one process.
            process.kill()
            process.wait()


@pytest.fixture(scope="package")
def dev(dev_process: tuple[subprocess.Popen[bytes], Path, int], chrome: Any) -> Dev:
    """The started `steplane dev`, waited for (after Chromium started, so both overlap)."""
    process, state_file, _ = dev_process
    deadline = time.monotonic() + 90
    while not state_file.exists():
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"steplane dev exited: {error}")
        assert time.monotonic() < deadline, "steplane dev did not start within 90 s"
        time.sleep(0.05)
    state = json.loads(state_file.read_text())
    return Dev(
        state["api_url"],
        state["api_key"],
        state["endpoint_url"],
        state["prefix"],
        state["region"],
        state_file,
    )


def _find(names: tuple[str, ...]) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


@pytest.fixture(scope="package")
def chrome(dev_process: Any) -> Iterator[Any]:
    """One headless Chromium for the suite, started while `steplane dev` starts; or, where
    there is none, the reason the browser tests skip."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        yield 'selenium is not installed: pip install -e ".[dev]"'
        return
    binary, driver = _find(BROWSERS), _find(DRIVERS)
    if binary is None or driver is None:
        yield f"no chromium and chromium-driver on PATH: {INSTALL_HINT}"
        return
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    session = webdriver.Chrome(service=Service(driver), options=options)
    session.set_page_load_timeout(30)
    try:
        yield session
    finally:
        session.quit()


@pytest.fixture(scope="package")
def browser(chrome: Any) -> Any:
    if isinstance(chrome, str):
        pytest.skip(chrome)
    return chrome


@pytest.fixture
def console_clean(browser: Any) -> Iterator[None]:
    """The test leaves no console error in the browser (what earlier tests left is dropped)."""
    browser.get_log("browser")
    yield
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors


@pytest.fixture(scope="package")
def screenshots() -> Path:
    """Where the suite saves a screenshot of each page: `STEPLANE_UI_SCREENSHOTS` (the README's
    images are made with `STEPLANE_UI_SCREENSHOTS=docs/screenshots`), else a temporary folder."""
    chosen = os.environ.get("STEPLANE_UI_SCREENSHOTS")
    folder = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="steplane-shots-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def fetch(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, str]:
    """Status and body of a request that follows no redirect."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
