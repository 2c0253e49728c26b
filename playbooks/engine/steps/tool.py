"""`tool` steps: render the arguments, call the broker once, keep what it wrote."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from approvals.models import ApprovalKind
from playbooks.engine.budget import tool_usage_record
from playbooks.engine.outcome import Pause, PauseReason, Result, StepOutcome
from playbooks.engine.steps.tool_models import step_tool_model, tool_model_usage
from playbooks.engine.view import RunView
from playbooks.models import RunStatus
from playbooks.spec.templates import template_render_value, vault_handles_as_json
from tools.broker import ToolCallResult, ToolOutcomeUnknown, tool_call
from tools.context import ToolContext
from tools.models import InvocationStatus
from tools.policy import ToolRefused
from tools.registry import tool_registry


def step_timeout(step: dict[str, Any]) -> float:
    return float(step.get("timeout_seconds") or settings.AGENTSTUDIO_STEP_TIMEOUT_SECONDS)


def tool_context(
    view: RunView,
    step_id: str,
    key: str,
    tool: str,
    *,
    model: dict[str, Any] | None = None,
    model_tag: str | None = None,
) -> ToolContext:
    """The call's context; its model (for the tools that ask one) is `model`, else the
    run's, with requests tagged `model_tag`, else the step id (steps.tool_models). A pure
    tool (`ToolDefinition.pure`: it talks to nothing outside) asks no model and gets none."""
    definition = tool_registry.get(tool)
    asks_model = definition is None or not definition.pure
    return ToolContext(
        run_id=str(view.run.pk),
        step_id=step_id,
        call_key=key,
        workspace=view.workspace(),
        lineage=list(view.lineage),
        max_file_bytes=settings.AGENTSTUDIO_ARTIFACT_MAX_BYTES,
        model=step_tool_model(
            view,
            model if model is not None else view.spec.get("model", {}),
            model_tag or step_id,
            step_id,
        )
        if asks_model
        else None,
    )


def call_key(view: RunView, step_id: str, attempt: int, call: str) -> str:
    return f"{view.run.pk}:{step_id}@{attempt}:{call}"


def tool_events(result: ToolCallResult) -> list[tuple[str, dict[str, Any]]]:
    events = [
        (
            "tool.called",
            {
                "tool": result.name,
                "key": result.key,
                "is_error": result.is_error,
                "duration_ms": round(result.duration_ms, 3),
                "replayed": result.replayed,
            },
        )
    ]
    events += [
        (
            "artifact.written",
            {"path": w.path, "size": w.size, "sha256": w.sha256, "content_type": w.content_type},
        )
        for w in result.written
    ]
    return events


def outcome_unknown_pause(exc: ToolOutcomeUnknown, step_id: str) -> StepOutcome:
    """A non-idempotent call may or may not have happened: a person decides."""
    invocation = exc.invocation
    invocation.status = InvocationStatus.UNKNOWN
    return StepOutcome(
        result=Result.PAUSED,
        invocations=[invocation],
        events=[("tool.outcome_unknown", {"tool": invocation.tool, "key": invocation.key})],
        pause=Pause(
            status=RunStatus.BLOCKED,
            reason=PauseReason.OUTCOME_UNKNOWN,
            approval={
                "kind": ApprovalKind.OUTCOME_UNKNOWN,
                "title": f"Did {invocation.tool} happen? The worker stopped during the call.",
                "payload": {
                    "tool": invocation.tool,
                    "arguments": invocation.arguments,
                    "key": invocation.key,
                },
                "tool": invocation.tool,
                "call_key": f"{invocation.key}:unknown",
                "step": step_id,
            },
        ),
    )


def approval_pause(result: ToolCallResult, step_id: str, arguments: Any) -> StepOutcome:
    """The approval policy wants a person to see this exact call first: the run waits; when
    the step runs again, the broker makes the call as approved."""
    approval = result.approval_request or {"call_key": result.key}
    if result.approval_mismatch is not None:
        return StepOutcome(
            result=Result.PAUSED,
            input=arguments,
            events=[approval_mismatch_event(result)],
            pause=Pause(
                status=RunStatus.BLOCKED, reason=PauseReason.APPROVAL_MISMATCH, approval=approval
            ),
        )
    return StepOutcome(
        result=Result.PAUSED,
        input=arguments,
        events=[("tool.approval_required", {"tool": result.name, "key": result.key})],
        pause=Pause(
            status=RunStatus.WAITING_FOR_APPROVAL, reason=PauseReason.TOOL_CALL, approval=approval
        ),
    )


def approval_mismatch_event(result: ToolCallResult) -> tuple[str, dict[str, Any]]:
    """The call about to be made is not the one approved: it was not made; say so."""
    return (
        "tool.approval_mismatch",
        {
            "tool": result.name,
            "key": result.key,
            "message": "The approved payload changed after approval; the call was not made "
            "and the run waits for a person to review it again.",
            **(result.approval_mismatch or {}),
        },
    )


def step_tool_call(
    view: RunView,
    step: dict[str, Any],
    key: str,
    name: str,
    arguments: Any,
    context: ToolContext,
    vault_references: dict[str, str] | None = None,
    charge_at_commit: bool = False,
) -> ToolCallResult:
    """A call from a step through the broker, in the run's scope and under the step's
    timeout; the lease holder's known invocation keys spare the idempotency lookup. Only a
    tool step passes `vault_references` (its author's); an agent's calls have none. A tool
    step's call of a pure tool is charged by its checkpoint (`charge_at_commit`)."""
    return tool_call(
        scope=view.scope(),
        run=view.run,
        step_id=step["id"],
        key=key,
        name=name,
        arguments=arguments,
        context=context,
        timeout_seconds=step_timeout(step),
        prior_keys=view.invocation_keys,
        vault_references=vault_references,
        charge_at_commit=charge_at_commit,
    )


def execute_tool_step(view: RunView, index: int, step: dict[str, Any], attempt: int) -> StepOutcome:
    arguments, references = vault_handles_as_json(
        template_render_value(step.get("args", {}), view.template_context())
    )
    key = call_key(view, step["id"], attempt, "0")
    context = tool_context(view, step["id"], key, step["tool"])
    try:
        result = step_tool_call(
            view, step, key, step["tool"], arguments, context, references, charge_at_commit=True
        )
    except ToolOutcomeUnknown as exc:
        paused = outcome_unknown_pause(exc, step["id"])
        paused.input = arguments
        return paused
    except ToolRefused as exc:
        return StepOutcome(result=Result.FAILED, input=arguments, error=exc.message)
    if result.approval_request is not None or result.approval_pending is not None:
        return approval_pause(result, step["id"], arguments)
    usage, model_events = tool_model_usage(view, result)
    usage.tool_calls = 0 if result.replayed else 1
    outcome = StepOutcome(
        result=Result.FAILED if result.is_error else Result.SUCCEEDED,
        input=arguments,
        output=None if result.is_error else result.structured,
        error=result.text if result.is_error else "",
        events=model_events + tool_events(result),
        usage=usage,
        invocations=[] if result.replayed else [result.invocation],
        usage_records=[] if result.replayed else [tool_usage_record(view.run, step["id"], result)],
        written=result.written,
        deferred_tool_charges=1 if result.charge_deferred and not result.replayed else 0,
    )
    return outcome
