"""`set_attributes()`: searchable attributes of a run, recorded from workflow code.

    set_attributes(customer="c-7", stage="paid")

Attributes are stored in plaintext, by choice, so that runs can be listed by them
(`steplane runs list --attr customer=c-7`, `GET /v1/runs?attr=customer=c-7`,
`Client.list(attributes={...})`): they are NOT encrypted like arguments and results, so never
put secrets or personal data in them. Each call is a command of the run (`attributes_set`),
recorded once and replayed, then copied to the run record; a later value of a name replaces
the earlier one. `Run.attributes()` reads them from outside.
"""

from __future__ import annotations

import re
from typing import Any

from .context import current_instance
from .errors import NotInWorkflowError

MAX_NAME_CHARS = 64
MAX_VALUE_CHARS = 256
MAX_ATTRIBUTES = 32
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


def check_attributes(attributes: dict[str, Any]) -> dict[str, str]:
    """The attributes as {name: text}, or a ValueError naming the first bad one."""
    if not attributes:
        raise ValueError("set_attributes() needs at least one name=value")
    if len(attributes) > MAX_ATTRIBUTES:
        raise ValueError(f"at most {MAX_ATTRIBUTES} attributes per run, got {len(attributes)}")
    checked: dict[str, str] = {}
    for name, value in attributes.items():
        check_name(name)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(
                f"attribute {name!r}: a value must be a string or an integer, "
                f"got {type(value).__name__}"
            )
        text = str(value)
        if len(text) > MAX_VALUE_CHARS:
            raise ValueError(
                f"attribute {name!r}: the value has {len(text)} characters, "
                f"more than the limit of {MAX_VALUE_CHARS}"
            )
        checked[name] = text
    return checked


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > MAX_NAME_CHARS:
        raise ValueError(
            f"attribute name {name!r} is not allowed: use letters, digits, '_', '.', '-' "
            f"(starting with a letter or '_'), at most {MAX_NAME_CHARS} characters"
        )
    return name


def parse_filter(text: str) -> tuple[str, str]:
    """`name=value` (the CLI's `--attr` and the run API's `attr=`) as a pair, checked."""
    name, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"an attribute filter is name=value, got {text!r}")
    check_name(name)
    if len(value) > MAX_VALUE_CHARS:
        raise ValueError(f"attribute filter {name!r}: value longer than {MAX_VALUE_CHARS}")
    return name, value


def set_attributes(**attributes: Any) -> None:
    """Record searchable, plaintext (not encrypted) attributes of the running workflow run:
    names of letters, digits, '_', '.', '-' (at most 64 characters), values strings or
    integers (stored as text, at most 256 characters), at most 32 per run."""
    instance = current_instance()
    if instance is None:
        raise NotInWorkflowError("set_attributes() works only inside a workflow")
    checked = check_attributes(attributes)
    merged = {**getattr(instance, "attributes", {}), **checked}
    if len(merged) > MAX_ATTRIBUTES:
        raise ValueError(f"at most {MAX_ATTRIBUTES} attributes per run, this makes {len(merged)}")
    instance.set_attributes(checked)  # type: ignore[attr-defined]
