"""Check `steplane deploy --param` values against the template's declared Parameters.

CloudFormation checks them too, but only after the zip is built and uploaded, and moto checks
few of them at all (or answers with an HTML page). So `deploy()` checks first, with the rules the
template declares: the name must be declared, and the value must fit its `Type` (`Number`,
`String`, `CommaDelimitedList`, `List<Number>`), `MinValue`/`MaxValue`, `MinLength`/`MaxLength`,
`AllowedValues` and `AllowedPattern` (matched against the whole value, as CloudFormation does).
The first bad value raises `ParameterError`, one line naming the parameter and the rule; a
`NoEcho` parameter's value is never repeated in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SET_BY_DEPLOY = ("CodeBucket", "CodeKey")
"""Parameters `deploy()` fills itself (where it uploaded the zip)."""


class ParameterError(ValueError):
    """A template parameter value that the template's rules refuse."""


def check_parameters(declared: Mapping[str, Any], values: Mapping[str, str]) -> None:
    """Raise `ParameterError` for the first value in `values` the `declared` rules refuse."""
    for name, value in values.items():
        if name in SET_BY_DEPLOY:
            raise ParameterError(f"parameter {name} is set by deploy (where it uploads the zip)")
        rules = declared.get(name)
        if rules is None:
            known = ", ".join(sorted(n for n in declared if n not in SET_BY_DEPLOY))
            raise ParameterError(f"unknown parameter {name!r} (the template declares: {known})")
        _check(name, str(value), rules)


def _check(name: str, value: str, rules: Mapping[str, Any]) -> None:
    shown = "(hidden: NoEcho)" if rules.get("NoEcho") else repr(value)
    kind = rules.get("Type", "String")

    def refuse(rule: str) -> ParameterError:
        return ParameterError(f"parameter {name}={shown}: {rule}")

    if kind == "Number":
        number = _number(value)
        if number is None:
            raise refuse("must be a number (Type: Number)")
        if "MinValue" in rules and number < float(rules["MinValue"]):
            raise refuse(f"must be at least {rules['MinValue']} (MinValue)")
        if "MaxValue" in rules and number > float(rules["MaxValue"]):
            raise refuse(f"must be at most {rules['MaxValue']} (MaxValue)")
        items = [value]
    elif kind in ("CommaDelimitedList", "List<Number>"):
        items = [item.strip() for item in value.split(",")]
        if kind == "List<Number>" and any(_number(item) is None for item in items):
            raise refuse("must be comma-separated numbers (Type: List<Number>)")
    else:  # String, and AWS-specific types, which are strings to us
        if "MinLength" in rules and len(value) < int(rules["MinLength"]):
            raise refuse(f"must be at least {rules['MinLength']} characters (MinLength)")
        if "MaxLength" in rules and len(value) > int(rules["MaxLength"]):
            raise refuse(f"must be at most {rules['MaxLength']} characters (MaxLength)")
        if "AllowedPattern" in rules and not re.fullmatch(rules["AllowedPattern"], value):
            raise refuse(f"must match {rules['AllowedPattern']} (AllowedPattern)")
        items = [value]
    allowed = rules.get("AllowedValues")
    if allowed is not None:
        choices = [str(choice) for choice in allowed]
        if any(item not in choices for item in items):
            raise refuse(f"must be one of {', '.join(choices)} (AllowedValues)")


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _number(text: str) -> float | None:
    """The value of a CloudFormation number (no Python extras such as "1_000", "inf", "nan")."""
    return float(text) if _NUMBER.fullmatch(text.strip()) else None
