"""Tool calls made from outside the worker (REST `/tools/call/`, MCP) with a run's scope
token: the same broker gates as the engine, recorded on the run under its row lock."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from approvals.effects import API_CALL_STEP
from tools.broker import ToolCallResult, tool_call
from tools.context import ToolContext
from tools.scope import ToolScope

API_STEP = API_CALL_STEP  # the step id of calls made through the API rather than by a step


def external_call_key(run: Any, idempotency_key: str | None) -> str:
    """A fresh key per call, or a stable one when the caller sends an Idempotency-Key."""
    if idempotency_key:
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
        return f"{run.pk}:{API_STEP}:{digest}"
    return f"{run.pk}:{API_STEP}:{uuid.uuid4().hex}"


def tool_call_external(
    *,
    scope: ToolScope,
    run: Any,
    name: str,
    arguments: Any,
    idempotency_key: str | None = None,
    key: str | None = None,
) -> ToolCallResult:
    """Makes one call through the broker for an agent holding the run's scope token.
    Raises ToolRefused (404/403) like the broker; a call that needs a person gets its
    approval created here and comes back `isError` with `{approval_id, status: pending}`."""
    from playbooks.engine.workspace import run_workspace

    key = key or external_call_key(run, idempotency_key)
    context = ToolContext(
        run_id=str(run.pk),
        step_id=API_STEP,
        call_key=key,
        workspace=run_workspace(run.pk),
        max_file_bytes=settings.AGENTSTUDIO_ARTIFACT_MAX_BYTES,
    )
    result = tool_call(
        scope=scope,
        run=run,
        step_id=API_STEP,
        key=key,
        name=name,
        arguments=arguments,
        context=context,
        timeout_seconds=settings.AGENTSTUDIO_STEP_TIMEOUT_SECONDS,
    )
    if result.approval_request is not None:
        approval = _approval_request(run, result.approval_request)
        result.structured = {"approval_id": str(approval.pk), "status": "pending"}
        return result
    if result.approval_pending is None and not result.replayed:
        _record(run, result)
    return result


def _approval_request(run: Any, fields: dict[str, Any]) -> Any:
    from approvals.services import approval_create
    from playbooks.engine.store.event_rows import run_events_append_locked
    from playbooks.models import Run

    fields = dict(fields)
    ttl = fields.pop("ttl_seconds", None)
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        approval = approval_create(
            organization=locked.organization,
            run=locked,
            playbook=locked.playbook,
            requested_by=locked.created_by,
            expires_at=timezone.now() + timedelta(seconds=ttl) if ttl else None,
            **fields,
        )
        run_events_append_locked(
            run=locked,
            events=[
                (
                    "approval.requested",
                    {
                        "approval": str(approval.pk),
                        "kind": approval.kind,
                        "title": approval.title,
                        "step": approval.step,
                        "body_hash": approval.body_hash,
                    },
                )
            ],
        )
    return approval


def _record(run: Any, result: ToolCallResult) -> None:
    """The invocation, its artifacts, usage and events, recorded on the run (the store's
    `api_call_record`)."""
    from playbooks.engine.steps.tool import tool_events
    from playbooks.engine.store.api_calls import api_call_record

    api_call_record(
        run_id=run.pk,
        step_id=API_STEP,
        invocation=result.invocation,
        written=result.written,
        events=tool_events(result),
    )


def tool_call_execute_approved(*, approval_id: Any) -> None:
    """After a person approved a call made through the API: make it, as approved, if its
    run is still running. The result lands on the approval (`executed`, `result`)."""
    from approvals.models import Approval, ApprovalStatus
    from approvals.services import approval_in_undo_window
    from playbooks.models import RunStatus
    from tools.scope import scope_for_run

    approval = Approval.objects.select_related("run__version").filter(pk=approval_id).first()
    if approval is None or approval.status != ApprovalStatus.APPROVED or approval.run is None:
        return
    if approval_in_undo_window(approval):
        return  # the window's own task brings it back when it closes
    if approval.run.status != RunStatus.RUNNING:
        return
    payload = approval.payload or {}
    tool_call_external(
        scope=scope_for_run(approval.run),
        run=approval.run,
        name=payload.get("tool", approval.tool),
        arguments=payload.get("arguments"),
        key=approval.call_key,
    )


def run_scope_token_issue(*, run: Any, actor: Any) -> tuple[str, Any]:
    """A scope token for the agent working a run: for who may run its playbook, and only
    while the run is running."""
    from agentstudio.errors import AppError, ErrorCode
    from playbooks.models import RunStatus
    from playbooks.run_services import run_assert_can_start
    from tools.scope import scope_token_issue

    run_assert_can_start(actor=actor, playbook=run.playbook)
    if run.status != RunStatus.RUNNING:
        raise AppError(
            ErrorCode.INVALID_STATE,
            f"The run is {run.status}: scope tokens are issued to running runs only.",
        )
    return scope_token_issue(run)
