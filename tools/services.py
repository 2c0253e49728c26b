"""Tool calls made from outside the worker (REST `/tools/call/`, MCP) with a run's scope
token: the same broker gates as the engine; the run records the call (or the approval it
waits for) through `run_access()`, which playbooks implements."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.conf import settings

from agentstudio.billing.budgets import BudgetExceeded
from approvals.effects import API_CALL_STEP
from approvals.models import ApprovalStatus
from tools.ai_services.model_access import ToolModel, budget_guard
from tools.broker import ToolCallResult, tool_call
from tools.context import ToolContext
from tools.providers.registry import provider_for
from tools.run_access import run_access
from tools.scope import ToolScope

API_STEP = API_CALL_STEP  # the step id of calls made through the API rather than by a step


def external_call_key(run: Any, idempotency_key: str | None) -> str:
    """A fresh key per call, or a stable one when the caller sends an Idempotency-Key."""
    if idempotency_key:
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
        return f"{run.pk}:{API_STEP}:{digest}"
    return f"{run.pk}:{API_STEP}:{uuid.uuid4().hex}"


def _run_model(runs: Any, run: Any) -> ToolModel | None:
    """The run's model for the model-backed tools, requests tagged with the API step."""
    if runs.run_model_spec is None:
        return None
    spec = runs.run_model_spec(run)
    organization = getattr(run, "organization_id", None)
    model = ToolModel(
        provider_source=lambda: provider_for(spec, organization=organization),
        model=spec,
        step_id=API_STEP,
        run_call_index=int(getattr(run, "model_calls", 0) or 0),
    )
    ref = runs.run_budget(run)
    if ref is None:
        return model
    record = {
        "organization_id": organization,
        "run_id": run.pk,
        "playbook_id": getattr(run, "playbook_id", None),
        "step_id": API_STEP,
        "user_id": getattr(run, "created_by_id", None),
    }
    # its calls inside the run's budget, as the engine's (a call that does not fit is refused)
    return budget_guard(model, ref, run_id=run.pk, record=record)


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
    approval created on its run and comes back `isError` with `{approval_id, status: pending}`."""
    runs = run_access()
    key = key or external_call_key(run, idempotency_key)
    try:
        context = ToolContext(
            run_id=str(run.pk),
            step_id=API_STEP,
            call_key=key,
            workspace=runs.run_workspace(run),
            max_file_bytes=settings.AGENTSTUDIO_ARTIFACT_MAX_BYTES,
            model=_run_model(runs, run),
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
    except BudgetExceeded as exc:
        # refused before it was made: a tool error the agent reads (MCP's isError), not
        # an HTTP error (402 is the organization's credit, not the run's budget)
        return ToolCallResult(
            name=name,
            key=key,
            structured={"error": "budget_exceeded", **exc.as_data()},
            is_error=True,
            text=f"Refused: {exc.reason}.",
            invocation=None,
        )
    if result.approval_request is not None:
        approval = runs.call_approval_request(run, result.approval_request)
        result.structured = {
            "approval_id": str(approval.pk),
            "status": ApprovalStatus.PENDING.value,
        }
        return result
    if result.approval_pending is None and not result.replayed:
        runs.call_record(run, result)
    return result
