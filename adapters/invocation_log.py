"""One structured log line per invocation, shared by the Lambda and HTTP entry points.

Each line is a single JSON object (`run_id`, `kind`, `step_id`/`step` or `workflow`,
`outcome`, `duration_ms`, ...) so that CloudWatch Logs Insights or any log pipeline can filter
and aggregate without parsing prose. Only ids and names are logged: messages carry no user
data, and error texts are cut to one line.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

_FIELDS = ("run_id", "kind", "workflow", "step", "step_id", "attempt", "wake", "hop")


def message_fields(body: Any) -> dict[str, Any]:
    """The ids and names of a queue message body, whatever shape it arrived in."""
    if isinstance(body, str | bytes | bytearray):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):  # hostile bodies never break the log line
            return {}
    if not isinstance(body, dict):
        return {}
    return {key: body[key] for key in _FIELDS if isinstance(body.get(key), str | int)}


def log_invocation(
    logger: logging.Logger,
    body: Any,
    *,
    outcome: str,
    started: float,
    receive_count: int,
    error: BaseException | None = None,
    **extra: Any,
) -> None:
    """Log the result of one invocation: outcome is "ok", "rejected" (permanent) or "failed";
    `started` is `time.perf_counter()` when it began."""
    line: dict[str, Any] = {
        **message_fields(body),
        "outcome": outcome,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "receive_count": receive_count,
        **extra,
    }
    if error is not None:
        line["error"] = " ".join(f"{type(error).__name__}: {error}".split())
    level = logging.INFO if outcome == "ok" else logging.WARNING
    logger.log(level, json.dumps(line, separators=(",", ":"), default=str))


class JsonLineFormatter(logging.Formatter):
    """Every record as one JSON object: JSON messages are merged in, prose goes to `message`.

    Installed by the Lambda entry point so that each line is machine-readable on its own,
    not prefixed by the runtime's text format.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        data: Any = None
        if message.startswith("{"):
            try:
                data = json.loads(message)
            except ValueError:
                data = None
        if not isinstance(data, dict):
            data = {"message": message}
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            **data,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"), default=str)


def install_json_logging(logger_name: str = "steplane", level: str | int = "INFO") -> bool:
    """Send the `steplane` loggers' records to stdout as JSON lines (once; no-op if the logger
    already has handlers). Returns whether a handler was installed."""
    import sys
    import time

    logger = logging.getLogger(logger_name)
    if logger.handlers:
        return False
    handler = logging.StreamHandler(sys.stdout)
    formatter = JsonLineFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # the runtime's root handler would print each line again
    return True
