"""Tool calls made on a run from outside the worker (REST `/tools/call/`, MCP): the run's
side of the broker's RunAccess (the call recorded on its run, the approval it waits for),
the call made once a person approved it, and the scope token an agent calls with.
Registered from PlaybooksConfig.ready()."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from agentstudio.errors import AppError, ErrorCode
from approvals.effects import approval_effect_register
from approvals.models import Approval, ApprovalKind, ApprovalStatus
from approvals.services import approval_create, approval_in_undo_window
from playbooks.engine.budget import run_budget_for_call, tool_usage_record
from playbooks.engine.steps.tool import tool_events
from playbooks.engine.steps.tool_models import model_usage_of
from playbooks.engine.store.api_calls import api_call_record
from playbooks.engine.store.event_rows import run_events_append_locked
from playbooks.engine.workspace import run_workspace
from playbooks.models import Run, RunStatus
from playbooks.runs.events import run_event_approval_requested
from playbooks.runs.services import run_assert_can_start
from playbooks.runs.tool_scope import run_tool_scope
from playbooks.tasks import tool_call_execute_approved_task
from tools.broker import ToolCallResult
from tools.run_access import RunAccess, run_access_register
from tools.scope import scope_token_issue
from tools.services import API_STEP, tool_call_external


def run_find_for_token(run_id: Any) -> Run | None:
    """The run a scope token names, its pinned version loaded; None for no such run (or a
    claim that is no run id at all)."""
    try:
        return Run.objects.select_related("version").get(pk=run_id)
    except (Run.DoesNotExist, ValueError, TypeError, ValidationError):
        return None


def run_is_running(run: Run) -> bool:
    return run.status == RunStatus.RUNNING


def run_workspace_of(run: Run) -> Path:
    return run_workspace(run.pk)


def call_record(run: Run, result: ToolCallResult) -> None:
    """The invocation, its artifacts, usage and events, recorded on the run by the store."""
    usage, model_events = model_usage_of(result)
    api_call_record(
        run_id=run.pk,
        step_id=API_STEP,
        invocation=result.invocation,
        written=result.written,
        events=model_events + tool_events(result),
        usage_record=tool_usage_record(run, API_STEP, result),
        usage=usage,
    )


def run_model_spec(run: Run) -> dict[str, Any]:
    """The run's model, as its pinned spec says (what its AI tools ask)."""
    return dict(run.version.spec.get("model") or {})


def call_approval_request(run: Run, fields: dict[str, Any]) -> Approval:
    """The approval a call made through the API waits for, created under the run's row lock
    with its `approval.requested` event. The run does not pause: no step waits for it."""
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
            events=[run_event_approval_requested(approval=approval, step=approval.step)],
        )
    return approval


def tool_call_execute_approved(*, approval_id: Any) -> None:
    """After a person approved a call made through the API: make it, as approved, if its
    run is still running. The result lands on the approval (`executed`, `result`)."""
    approval = Approval.objects.select_related("run__version").filter(pk=approval_id).first()
    if approval is None or approval.status != ApprovalStatus.APPROVED or approval.run is None:
        return
    if approval_in_undo_window(approval):
        return  # the window's own task brings it back when it closes
    if approval.run.status != RunStatus.RUNNING:
        return
    payload = approval.payload or {}
    tool_call_external(
        scope=run_tool_scope(approval.run),
        run=approval.run,
        name=payload.get("tool", approval.tool),
        arguments=payload.get("arguments"),
        key=approval.call_key,
    )


def run_scope_token_issue(*, run: Run, actor: Any) -> tuple[str, Any]:
    """A scope token for the agent working a run: for who may run its playbook, and only
    while the run is running."""
    run_assert_can_start(actor=actor, playbook=run.playbook)
    if run.status != RunStatus.RUNNING:
        raise AppError(
            ErrorCode.INVALID_STATE,
            f"The run is {run.status}: scope tokens are issued to running runs only.",
        )
    return scope_token_issue(run)


def api_call_decided(*, approval: Approval, actor: Any, window_closed: bool) -> None:
    """Its run never paused for it. Approved (and past any undo window), the call is made
    after the decision commits; otherwise it is simply not made."""
    if approval_in_undo_window(approval):
        return  # approvals looks at it again when the window closes
    if approval.status == ApprovalStatus.APPROVED:
        approval_id = str(approval.pk)
        transaction.on_commit(lambda: tool_call_execute_approved_task.delay(approval_id))


def api_call_reopened(*, undone: Approval, reopened: Approval, actor: Any) -> None:
    """Undone inside its window: the call was not made, and no run step is waiting to be
    told; the reopened approval is decided like the first."""


RUN_ACCESS = RunAccess(
    tool_scope=run_tool_scope,
    run_find=run_find_for_token,
    run_is_running=run_is_running,
    run_workspace=run_workspace_of,
    call_record=call_record,
    call_approval_request=call_approval_request,
    run_budget=run_budget_for_call,
    run_model_spec=run_model_spec,
)


def run_tool_calls_register() -> None:
    """How the broker reaches runs, and what a decision on a call made through the API does."""
    run_access_register(RUN_ACCESS)
    approval_effect_register(
        kinds=(ApprovalKind.TOOL_CALL,),
        api_call=True,
        decided=api_call_decided,
        reopened=api_call_reopened,
    )
