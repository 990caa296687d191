"""In-memory run records with newest-first listing and opaque cursors.

A cursor is the (created_at, run_id) of the last record of a page, base64-encoded. The next page
starts strictly after that key, so runs created between pages (which sort before it, being
newer) neither shift the window nor show up twice.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from dataclasses import replace

from steplane.runtime.errors import RunNotFoundError
from steplane.runtime.world import Page, RunQuery, RunRecord, RunStore, StatusChange

_SortKey = tuple[float, str]


class MemoryRunStore(RunStore):
    """Run records keyed by run id; every record handed in or out is a copy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, RunRecord] = {}
        self._versions: dict[str, int] = {}  # of each record's attributes (set_attributes)

    async def create(self, record: RunRecord) -> None:
        with self._lock:
            if record.run_id in self._records:
                raise ValueError(f"run {record.run_id!r} already exists")
            self._records[record.run_id] = _copy(record)

    async def get(self, run_id: str) -> RunRecord | None:
        with self._lock:
            record = self._records.get(run_id)
            return _copy(record) if record is not None else None

    async def change_status(self, run_id: str, change: StatusChange) -> bool:
        """Move the run to `status` unless it already ended or already has that status.

        Raises `RunNotFoundError` for an unknown run: a status update without a record is an
        engine bug worth surfacing, not a silent no-op.
        """
        status, updated_at, error_code = change.status, change.updated_at, change.error_code
        with self._lock:
            record = self._records.get(run_id)
            if record is None:
                raise RunNotFoundError(f"run {run_id!r} does not exist")
            if record.status.is_terminal or record.status == status:
                return False
            record.status = status
            record.updated_at = updated_at
            if error_code is not None:
                record.error_code = error_code
            if change.deployment is not None and record.deployment is None:
                record.deployment = change.deployment
            if status.is_terminal:
                record.completed_at = updated_at
            return True

    async def set_attributes(
        self, run_id: str, attributes: dict[str, str], *, version: int = 0
    ) -> bool:
        with self._lock:
            record = self._records.get(run_id)
            if record is None:
                raise RunNotFoundError(f"run {run_id!r} does not exist")
            if self._versions.get(run_id, -1) >= version:
                return False
            self._versions[run_id] = version
            record.attributes = dict(attributes)
            return True

    async def set_deployment(self, run_id: str, expected: str | None, deployment: str) -> bool:
        with self._lock:
            record = self._records.get(run_id)
            if record is None:
                raise RunNotFoundError(f"run {run_id!r} does not exist")
            if record.status.is_terminal or record.deployment != expected:
                return False
            record.deployment = deployment
            return True

    def delete(self, run_id: str) -> None:
        """Forget the run's record and its attributes (retention, `MemoryWorld.purge_run`)."""
        with self._lock:
            self._records.pop(run_id, None)
            self._versions.pop(run_id, None)

    async def query(self, query: RunQuery) -> Page:
        after = _decode_cursor(query.cursor) if query.cursor is not None else None
        with self._lock:
            matches = [
                record
                for record in self._records.values()
                if (query.status is None or record.status == query.status)
                and (query.workflow_name is None or record.workflow_name == query.workflow_name)
                and (after is None or _sort_key(record) < after)
                and (query.updated_before is None or record.updated_at < query.updated_before)
                and all(record.attributes.get(k) == v for k, v in query.attributes)
                and (query.deployment is None or record.deployment == query.deployment)
            ]
            matches.sort(key=_sort_key, reverse=True)
            items = [_copy(record) for record in matches[: query.limit]]
        more = len(matches) > query.limit
        next_cursor = _encode_cursor(_sort_key(items[-1])) if more else None
        return Page(items=items, next_cursor=next_cursor)


def _copy(record: RunRecord) -> RunRecord:
    return replace(record, attributes=dict(record.attributes))


def _sort_key(record: RunRecord) -> _SortKey:
    return (record.created_at, record.run_id)


def _encode_cursor(key: _SortKey) -> str:
    raw = json.dumps([key[0], key[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> _SortKey:
    try:
        created_at, run_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(created_at, int | float) or not isinstance(run_id, str):
            raise TypeError(created_at, run_id)
        return (float(created_at), run_id)
    except (binascii.Error, UnicodeError, ValueError, TypeError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}: not one this World handed out") from exc
