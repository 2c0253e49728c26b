"""Pausing a run inside its checkpoint: the approval or sub-run it waits for is created in
the same transaction as the pause, so a crash can never leave one without the other."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from approvals.models import Approval, ApprovalStatus
from approvals.services import approval_create
from playbooks.engine.events import EventSpec
from playbooks.engine.outcome import Pause
from playbooks.engine.store.run_audit import run_audit_transition
from playbooks.engine.view import RunView
from playbooks.models import Run, RunStatus, RunStep
from playbooks.runs.events import (
    run_event_approval_requested,
    run_event_child_started,
    run_event_paused,
)
from playbooks.runs.finishing import run_fail_locked
from playbooks.runs.starting import run_child_create


def _approval_for(locked: Run, requested: dict[str, Any]) -> Any:
    """The approval asked for, or the open one for the same call (a step that pauses again
    while a person has not decided yet, or while an approval's undo window is open)."""
    fields = dict(requested)
    # a full request asks for a new approval unless one is pending for the call; a bare
    # call key points at the open one (pending, or approved inside its undo window)
    open_statuses = (
        (ApprovalStatus.PENDING,)
        if "kind" in fields
        else (ApprovalStatus.PENDING, ApprovalStatus.APPROVED)
    )
    existing = (
        Approval.objects.filter(
            run=locked, call_key=fields.get("call_key", ""), status__in=open_statuses
        )
        .order_by("-created_at")
        .first()
        if fields.get("call_key")
        else None
    )
    if existing is not None:
        return existing
    ttl = fields.pop("ttl_seconds", None)
    expires_at = timezone.now() + timedelta(seconds=ttl) if ttl else None
    return approval_create(
        organization=locked.organization,
        run=locked,
        playbook=locked.playbook,
        requested_by=locked.created_by,
        expires_at=expires_at,
        **fields,
    )


def pause_apply(
    *, locked: Run, view: RunView, row: RunStep, pause: Pause | None
) -> list[EventSpec]:
    """Moves the run to waiting_for_approval or blocked, creating what it waits for."""
    assert pause is not None
    events: list[EventSpec] = []
    data: dict[str, Any] = {"reason": pause.reason, "step": row.step_id}
    requested = [pause.approval] if pause.approval is not None else []
    for fields in [*requested, *pause.more_approvals]:
        approval = _approval_for(locked, fields)
        events.append(run_event_approval_requested(approval=approval, step=row.step_id))
    if events:
        data["approval"] = events[0][1]["approval"]
    if pause.more_approvals:
        data["approvals"] = [requested_data["approval"] for _kind, requested_data in events]
    if pause.child is not None:
        child, problem = run_child_create(parent=locked, **pause.child)
        if child is None:
            return run_fail_locked(locked, f"step {row.step_id} failed: {problem}")
        events.append(run_event_child_started(child=child, step=row.step_id))
        data["child_run"] = str(child.pk)
    source = locked.status
    if pause.status == RunStatus.WAITING_FOR_APPROVAL:
        locked.wait_for_approval()
    else:
        locked.block()
    locked.paused_reason = pause.reason
    waits_for = {name: data[name] for name in ("approval", "child_run") if name in data}
    run_audit_transition(
        locked,
        transition=str(locked.status),
        source=source,
        reason=pause.reason,
        step=row.step_id,
        **waits_for,
    )
    events.append(run_event_paused(data=data))
    return events
