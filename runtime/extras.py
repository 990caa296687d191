"""Optional dependencies: which extra of the `steplane` distribution brings each, and the one
line that says so when one is missing.

`pip install steplane` defines workflows and runs them on the in-memory World
(`steplane run --world memory`). The rest comes with extras named for what a user does:

- `aws`: a host that uses the AWS World (boto3). The Lambda bundle needs none of it: Lambda's
  Python has boto3.
- `local`: the embedded emulator of `steplane run`, `steplane dev`, `Emulator(world="aws")`
  and `Emulator(invoke="http")` (boto3, moto and its server, uvicorn, httpx).
- `otel`: OpenTelemetry spans (runtime/engine/tracing.py). Nothing asks for it: without it
  tracing is off, and nothing of it is imported.
- `agents`: durable Pydantic AI agents, `steplane.agents.SteplaneAgent` (pydantic-ai-slim
  with its OpenAI-compatible provider).
- `dev`: working on steplane itself (`local` plus the test and lint tools).

Code that needs an extra imports its modules inside `requires_extra(...)`. The entry point
that knows what the user is doing has the last word: the AWS World asks for `aws`, the
emulator around it for `local`, so `steplane run` names `local` even when boto3 is what fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

EXTRAS: dict[str, frozenset[str]] = {
    "aws": frozenset({"boto3", "botocore"}),
    "local": frozenset({"boto3", "botocore", "moto", "werkzeug", "uvicorn", "httpx"}),
    "otel": frozenset({"opentelemetry"}),
    "agents": frozenset({"pydantic_ai", "pydantic", "pydantic_core", "openai"}),
}
"""The top-level modules that each extra brings and our code imports (pyproject.toml's
optional-dependencies install them; a test keeps the two in step)."""


class MissingExtraError(ModuleNotFoundError):
    """An optional dependency is not installed; the message says which pip command brings it."""


def install_command(extra: str) -> str:
    return f'pip install "steplane[{extra}]"'


@contextmanager
def requires_extra(extra: str) -> Iterator[None]:
    """Report a missing module of `extra` as `MissingExtraError` naming the extra; any other
    import error passes through unchanged."""
    try:
        yield
    except ModuleNotFoundError as error:
        missing = (error.name or "").partition(".")[0]
        if missing not in EXTRAS[extra]:
            raise
        message = f"{missing} is not installed: {install_command(extra)}"
        raise MissingExtraError(message, name=missing) from error
