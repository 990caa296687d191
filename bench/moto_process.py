"""A moto server in a process of its own (the locked one `steplane dev` runs), for the
benchmarks that drive several processes against one AWS endpoint on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

MOTO_SERVER = ("-m", "steplane.local_emulator.aws.moto_server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_moto_server() -> tuple[subprocess.Popen[bytes], str]:
    """The server process and its URL, once it answers (RuntimeError within 60 s if not)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the moto server did not start") from None
            time.sleep(0.1)
