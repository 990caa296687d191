"""The chat page in a real headless Chromium: a booking with its approval, a network drop
(the server goes away and comes back) that EventSource survives with `Last-Event-ID` (no chunk
rendered twice), and a reload that follows the same session from its run id.

Skipped when Debian's chromium and chromium-driver, or selenium, are not installed."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette

from examples.agent_chat import http_routes
from local_emulator import Emulator
from local_emulator.dev import free_port

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs chromium and chromium-driver"),
]


class Server:
    """The chat app on a fixed port, which can go away and come back (a network drop)."""

    def __init__(self, app: Starlette, port: int) -> None:
        self.app, self.port = app, port
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="error",
            timeout_graceful_shutdown=0,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        await until(lambda: self.server is not None and self.server.started, 10)

    async def stop(self) -> None:
        assert self.server is not None and self.task is not None
        # Not `force_exit`: with it uvicorn skips the graceful timeout, so it never cancels
        # the open event stream, and the connection stays up: no drop the page could see.
        # `timeout_graceful_shutdown=0` cancels the stream at once, which closes it.
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 10)


async def until(check: Callable[[], Any], seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await asyncio.to_thread(check) if not asyncio.iscoroutinefunction(check) else None
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting for the page"
        await asyncio.sleep(0.1)


@pytest.fixture
async def served() -> AsyncIterator[tuple[Server, Any]]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    async with Emulator(world="memory", modules=["examples.agent_chat"]) as emu:
        server = Server(Starlette(routes=http_routes(emu.runtime_client)), free_port())
        await server.start()
        driver = await asyncio.to_thread(webdriver.Chrome, service=Service(DRIVER), options=options)
        try:
            yield server, driver
        finally:
            await asyncio.to_thread(driver.quit)
            await server.stop()


def texts(driver: Any, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


async def test_the_chat_page_survives_a_network_drop_and_a_reload(served: Any) -> None:
    from selenium.webdriver.common.by import By

    server, driver = served
    url = f"http://127.0.0.1:{server.port}/chat"
    await asyncio.to_thread(driver.get, url)
    box = driver.find_element(By.ID, "text")
    box.send_keys("Book me a flight from Paris to Tokyo")
    driver.find_element(By.CSS_SELECTOR, "form button").click()
    await until(lambda: texts(driver, ".approval"), 30)

    await server.stop()  # the network drops ...
    await until(lambda: "reconnecting" in driver.find_element(By.ID, "status").text, 15)
    await server.start()  # ... and comes back: EventSource reconnects with Last-Event-ID
    await until(lambda: "connected" in driver.find_element(By.ID, "status").text, 20)

    driver.find_element(By.XPATH, "//div[@class='approval']/button[text()='Approve']").click()
    answer = await until(
        lambda: [t for t in texts(driver, ".agent") if "confirmation code" in t], 30
    )
    assert answer[0].startswith("You are booked on SL")
    tools = texts(driver, ".tool")
    assert sum(t.startswith("→ search_flights") for t in tools) == 1  # nothing rendered twice
    assert len(texts(driver, ".approval")) == 1

    run_id = driver.current_url.split("#", 1)[1]
    assert run_id.startswith("run_")
    await asyncio.to_thread(driver.refresh)  # a reload (or a second browser on this URL)
    again = await until(lambda: [t for t in texts(driver, ".agent") if "confirmation" in t], 30)
    assert again == answer
    assert texts(driver, ".tool") == tools
