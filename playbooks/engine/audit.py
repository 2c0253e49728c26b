"""Tool calls on their run's audit chain (stream `run:<id>`, head on the run row).

Every invocation a checkpoint writes (a call made, or found to have an unknown outcome)
appends one row: the tool, its key, step and status, and SHA-256 digests of the arguments
and of the result, so the chain proves what was called with what without copying payloads
(and secrets) into the audit log. Only the run's writers move its head: the lease holder in
its guarded checkpoint, everyone else under the run's row lock."""

from __future__ import annotations

import hashlib
from typing import Any

from agentstudio.audit.chain import audit_rows_build, canonical_json, run_audit_stream
from agentstudio.audit.models import AuditEvent


def tool_call_audit_data(invocation: Any) -> dict[str, Any]:
    return {
        "tool": invocation.tool,
        "key": invocation.key,
        "step": invocation.step_id,
        "status": invocation.status,
        "is_error": bool(invocation.is_error),
        "arguments_sha256": hashlib.sha256(canonical_json(invocation.arguments)).hexdigest(),
        "result_sha256": hashlib.sha256(canonical_json(invocation.result)).hexdigest(),
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
