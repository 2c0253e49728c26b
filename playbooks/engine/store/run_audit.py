"""A run's audit chain: its tool calls and its transitions.

The stream is `run:<id>`, its head kept on the run row.

Every transition (queued, started, waiting for approval, blocked, reviewing, resumed,
succeeded, failed, cancelled, retried) appends one row `run.<transition>` with where the
run came from and went to, and the reason when there is one (`run_audit_transition`); the
row is written with the save that makes the transition, in its transaction.

Every invocation a checkpoint writes (a call made, or found to have an unknown outcome)
appends one row: the tool, its key, step and status, and SHA-256 digests of the arguments
and of the result, so the chain proves what was called with what without copying payloads
(and secrets) into the audit log. Only the run's writers move its head: the lease holder in
its guarded checkpoint, everyone else under the run's row lock."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from django.utils import timezone

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


def run_transition_item(
    *, transition: str, source: str | None, target: str, **reason: Any
) -> tuple[str, dict[str, Any]]:
    """The (type, data) of a transition's row: `run.<transition>`, from, to, and the reason
    when there is one (an error, a pause's reason, an approval's id), never a payload."""
    before = None if source is None else str(source)  # statuses as plain strings
    return f"run.{transition}", {"from": before, "to": str(target), **reason}


def run_audit_rows(
    run: Any,
    invocations: list[Any],
    now: Any,
    transitions: Sequence[tuple[str, dict[str, Any]]] = (),
) -> tuple[list[AuditEvent], tuple[int, str]]:
    """The rows for `invocations` (then the system's `transitions`, from
    `run_transition_item`) after the run's current head, and the head after them."""
    return audit_rows_build(
        stream=run_audit_stream(run.pk),
        head=(run.audit_seq, run.audit_hash),
        organization_id=run.organization_id,
        items=[("tool.called", tool_call_audit_data(i)) for i in invocations] + [*transitions],
        created_at=now,
    )


def run_audit_append_locked(locked: Any, invocations: list[Any], now: Any) -> None:
    """Under the run's row lock: appends the rows and moves `locked`'s head (the caller
    saves the run, `audit_seq` and `audit_hash` included)."""
    if not invocations:
        return
    rows, (locked.audit_seq, locked.audit_hash) = run_audit_rows(locked, invocations, now)
    AuditEvent.objects.bulk_create(rows)


# Where a run instance keeps the transition rows its next save writes
_PENDING = "_audit_pending"


def run_audit_transition(
    run: Any,
    *,
    transition: str,
    source: str | None,
    actor: Any = None,
    now: Any = None,
    **reason: Any,
) -> None:
    """The one way a transition is audited: its row (by `actor`, the system when None; `to`
    is the run's status now) is made and kept on `run` for the save that writes the
    transition, and the run's head moves to it. That save must write `audit_seq` and
    `audit_hash` and the pending rows (`run_audit_pending_take`) in the same transaction:
    `run_events_append_locked` writes them under the row lock, `run_save_guarded` in its
    guarded write. Only the run's writers call it (its row lock held, or its lease)."""
    item = run_transition_item(transition=transition, source=source, target=run.status, **reason)
    rows, (run.audit_seq, run.audit_hash) = audit_rows_build(
        stream=run_audit_stream(run.pk),
        head=(run.audit_seq, run.audit_hash),
        organization_id=run.organization_id,
        items=[item],
        created_at=now or timezone.now(),
        actor=actor,
    )
    run.__dict__.setdefault(_PENDING, []).extend(rows)


def run_audit_pending_take(run: Any) -> list[AuditEvent]:
    """The transition rows made on `run` and not written yet (and forgets them)."""
    return run.__dict__.pop(_PENDING, [])


def run_audit_pending_write(run: Any) -> None:
    """Under the run's row lock: writes the pending transition rows (one INSERT)."""
    rows = run_audit_pending_take(run)
    if rows:
        AuditEvent.objects.bulk_create(rows)


def run_audit_heads() -> Iterator[tuple[str, int, str]]:
    """The head of every run's chain (key, last seq, last hash), kept on the run
    row; registered with the core's verifier (agentstudio.audit.chain) at app start."""
    runs = Run.objects.filter(audit_seq__gt=0).order_by("pk")
    for run_id, seq, last_hash in runs.values_list("pk", "audit_seq", "audit_hash").iterator():
        yield run_audit_stream(run_id), seq, last_hash
