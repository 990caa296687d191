"""`loads_bounded`: JSON from an untrusted body, with a nesting limit checked first.

`json.loads` recurses once per nesting level: 100,000 nested brackets raise RecursionError
(before this module, a 500 with a traceback and a dropped connection). The depth is measured
without recursion before the parser sees the text: strings are cut out with one regex and
the rest reduced to its brackets (both in C); a Python loop then walks the brackets only and
stops at the first level past the limit. Cost: linear, about 0.2 us per bracket (a 6 MiB body
of nothing but brackets: about 1 s), which the body size limit and rate limits bound.
"""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_MAX_JSON_DEPTH = 64

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class JsonInputError(ValueError):
    """The body is not acceptable JSON; the message names the problem in one line."""


class JsonTooDeepError(JsonInputError):
    """The body nests deeper than the limit (it may be valid JSON otherwise)."""


def depth_exceeds(raw: bytes, limit: int) -> bool:
    """True if `[`/`{` nest deeper than `limit` in `raw` (brackets in strings not counted)."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= limit:
        return False  # too few openings to go that deep: the common case, all in C
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return True
    return False


def loads_bounded(raw: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Any:
    """`json.loads(raw)`, or JsonInputError for invalid JSON or nesting past `max_depth`."""
    if depth_exceeds(raw, max_depth):
        raise JsonTooDeepError(f"the request body is nested deeper than {max_depth} levels")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise JsonInputError(f"the request body is not valid JSON: {error}") from None
