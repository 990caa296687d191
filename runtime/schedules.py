"""Schedules: start a workflow's runs on a cron or rate expression (EventBridge's syntax).

    @workflow(schedule="cron(0 9 * * ? *)")      # 09:00 UTC every day
    async def daily_report() -> None: ...

    @schedule("rate(5 minutes)")                  # the same, as a decorator over @workflow
    @workflow
    async def poll() -> None: ...

A scheduled workflow takes no arguments. Each fire starts one run with the idempotency key
`schedule:<name>:<fire time>`, so a fire delivered twice (EventBridge is at least once) starts
one run. Locally the emulator (and `steplane dev`) fires due schedules, and with virtual time
skips ahead to the next one when idle. Pausing is a flag in the World's coordination store
(`schedule#<name>`), honoured wherever fires arrive. Design: docs/flow-control.md.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .definitions import WorkflowDef

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_FIELDS = (("minutes", 0, 59), ("hours", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12))
_SEARCH_DAYS = 366 * 5


@dataclass(frozen=True)
class Schedule:
    """A workflow's schedule: `next_after(t)` is the first fire time strictly after `t`."""

    workflow: WorkflowDef
    expression: str
    period: float | None = None
    """Seconds between fires of a rate expression; None for cron."""
    sets: tuple[frozenset[int], ...] = ()
    """Cron: minutes, hours, days of month, months, days of week (1 = Sunday), years."""

    @property
    def name(self) -> str:
        return self.workflow.name

    def next_after(self, when: float) -> float:
        if self.period is not None:
            return when + self.period
        start = datetime.fromtimestamp(when, UTC).replace(second=0, microsecond=0)
        start += timedelta(minutes=1)
        minutes, hours, days, months, weekdays, years = self.sets
        day = start.replace(hour=0, minute=0)
        for _ in range(_SEARCH_DAYS):
            weekday = (day.weekday() + 1) % 7 + 1  # Monday=0 -> 2; Sunday=6 -> 1
            if (
                day.month in months
                and (not years or day.year in years)
                and (day.day in days if days else True)
                and (weekday in weekdays if weekdays else True)
            ):
                for hour in sorted(hours):
                    for minute in sorted(minutes):
                        fire = day.replace(hour=hour, minute=minute)
                        if fire >= start:
                            return fire.timestamp()
            day += timedelta(days=1)
        raise ValueError(f"schedule {self.expression!r} never fires in the next five years")


def parse_schedule(workflow: WorkflowDef, expression: str) -> Schedule:
    """Check `expression` ("rate(5 minutes)", "cron(0 9 * * ? *)"); ValueError says why not."""
    if not isinstance(expression, str):
        raise ValueError(f"a schedule is a 'cron(...)' or 'rate(...)' string, got {expression!r}")
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if count < 1 or (count == 1) != (not rate.group(2).endswith("s")):
            raise ValueError(
                f"schedule {expression!r}: write 'rate(1 minute)' or 'rate(N minutes)'"
            )
        return Schedule(workflow, text, period=float(count * _UNITS[unit]))
    if not (text.startswith("cron(") and text.endswith(")")):
        raise ValueError(
            f"schedule {expression!r}: use 'cron(m h dom mon dow year)' or 'rate(...)'"
        )
    fields = text[5:-1].split()
    if len(fields) != 6:
        raise ValueError(f"schedule {expression!r}: cron takes 6 fields (m h dom mon dow year)")
    sets = [
        _field(expression, f, name, low, high)
        for f, (name, low, high) in zip(fields, _FIELDS, strict=False)
    ]
    weekdays = _field(expression, fields[4], "day-of-week", 1, 7, _DAYS)
    years = _field(expression, fields[5], "year", 1970, 2199)
    if (fields[2] == "?") == (fields[4] == "?"):
        raise ValueError(
            f"schedule {expression!r}: exactly one of day-of-month and day-of-week is '?'"
        )
    return Schedule(workflow, text, sets=(*sets, weekdays, years))


def _field(
    expression: str, text: str, name: str, low: int, high: int, names: dict[str, int] | None = None
) -> frozenset[int]:
    """One cron field as the set of values it allows (empty: '?' or '*' where any is fine)."""
    names = names or (_MONTHS if name == "month" else {})
    if text == "?" or (text == "*" and name in ("day-of-week", "year", "day-of-month")):
        return frozenset() if name != "day-of-month" or text == "?" else frozenset(range(1, 32))
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if base == "*":
                first, last = low, high
            elif "-" in base:
                a, b = base.split("-", 1)
                first, last = names.get(a.upper()) or int(a), names.get(b.upper()) or int(b)
            else:
                first = names.get(base.upper()) or int(base)
                last = high if step_text else first
        except ValueError:
            raise ValueError(
                f"schedule {expression!r}: {name} field {text!r} is not understood "
                "(numbers, ranges a-b, lists, */n; L, W and # are not supported)"
            ) from None
        if not (low <= first <= last <= high) or step < 1:
            raise ValueError(f"schedule {expression!r}: {name} must be within {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


_schedules: dict[str, Schedule] = {}


def add_schedule(workflow: WorkflowDef, expression: str) -> Schedule:
    """Register `workflow` to run on `expression` (what `@workflow(schedule=)` calls)."""
    if workflow.fn.__code__.co_argcount:  # type: ignore[attr-defined]
        raise TypeError(f"scheduled workflow {workflow.name!r} must take no arguments")
    parsed = parse_schedule(workflow, expression)
    _schedules[workflow.name] = parsed
    return parsed


def schedule(expression: str) -> Any:
    """`@schedule("rate(5 minutes)")` over a `@workflow`: run it on that schedule."""

    def decorate(fn: Any) -> Any:
        definition = getattr(fn, "__steplane_workflow__", None)
        if definition is None:
            raise TypeError("@schedule goes above @workflow (decorate the workflow first)")
        add_schedule(definition, expression)
        return fn

    parse_schedule(WorkflowDef("check", lambda: None), expression)  # fail at the decorator
    return decorate


def registered_schedules() -> list[Schedule]:
    return sorted(_schedules.values(), key=lambda s: s.name)


def schedule_key(name: str) -> str:
    """The schedule's coordination item (its paused flag and last fire)."""
    return f"schedule#{name}"
