"""A run's audit chain: its tool calls, and the system giving up on the run.

The stream is `run:<id>`, its head kept on the run row.

Every invocation a checkpoint writes (a call made, or found to have an unknown outcome)
appends one row: the tool, its key, step and status, and SHA-256 digests of the arguments
and of the result, so the chain proves what was called with what without copying payloads
(and secrets) into the audit log. Only the run's writers move its head: the lease holder in
its guarded checkpoint, everyone else under the run's row lock."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from agentstudio.audit.chain import audit_rows_build, run_audit_stream
from agentstudio.audit.models import AuditEvent
from agentstudio.json_encoding import json_dumps_sorted
from playbooks.models import Run


def json_sha256(value: Any) -> str:
    """SHA-256 of the value's JSON with sorted keys, no spaces, UTF-8 (orjson, on the hot
    path; the text `canonical_json` would give for plain JSON values)."""
    return hashlib.sha256(json_dumps_sorted(value)).hexdigest()


def tool_call_audit_data(invocation: Any) -> dict[str, Any]:
    return {
        "tool": invocation.tool,
        "key": invocation.key,
        "step": invocation.step_id,
        "status": invocation.status,
        "is_error": bool(invocation.is_error),
        "arguments_sha256": json_sha256(invocation.arguments),
        "result_sha256": json_sha256(invocation.result),
    }


def run_audit_rows(
    run: Any, invocations: list[Any], now: Any
) -> tuple[list[AuditEvent], tuple[int, str]]:
    """The rows for `invocations` after the run's current head, and the head after them."""
    return audit_rows_build(
        stream=run_audit_stream(run.pk),
        head=(run.audit_seq, run.audit_hash),
        organization_id=run.organization_id,
        items=[("tool.called", tool_call_audit_data(i)) for i in invocations],
        created_at=now,
    )


def run_audit_append_locked(locked: Any, invocations: list[Any], now: Any) -> None:
    """Under the run's row lock: appends the rows and moves `locked`'s head (the caller
    saves the run, `audit_seq` and `audit_hash` included)."""
    if not invocations:
        return
    rows, (locked.audit_seq, locked.audit_hash) = run_audit_rows(locked, invocations, now)
    AuditEvent.objects.bulk_create(rows)


def run_audit_event_append_locked(locked: Any, kind: str, data: dict[str, Any], now: Any) -> None:
    """Under the run's row lock: appends one row of the run's own (not a tool call's) and
    moves `locked`'s head (the caller saves the run)."""
    rows, (locked.audit_seq, locked.audit_hash) = audit_rows_build(
        stream=run_audit_stream(locked.pk),
        head=(locked.audit_seq, locked.audit_hash),
        organization_id=locked.organization_id,
        items=[(kind, data)],
        created_at=now,
    )
    AuditEvent.objects.bulk_create(rows)


def run_audit_heads() -> Iterator[tuple[str, int, str]]:
    """The head of every run's tool-call chain (key, last seq, last hash), kept on the run
    row; registered with the core's verifier (agentstudio.audit.chain) at app start."""
    runs = Run.objects.filter(audit_seq__gt=0).order_by("pk")
    for run_id, seq, last_hash in runs.values_list("pk", "audit_seq", "audit_hash").iterator():
        yield run_audit_stream(run_id), seq, last_hash
