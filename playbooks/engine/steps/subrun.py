"""`playbook` steps: a sub-run of another active playbook; the parent waits blocked, holding
no worker, and resumes when the child ends. `remote_agent` steps arrive with the gateway."""

from __future__ import annotations

from typing import Any

from playbooks.engine.outcome import Pause, PauseReason, Result, StepOutcome
from playbooks.engine.view import RunView
from playbooks.models import Run, RunStatus
from playbooks.spec.templates import template_render_value


def child_marker(step_id: str, attempt: int) -> str:
    return f"{step_id}@{attempt}"


def child_outcome(view: RunView, step_id: str, attempt: int) -> StepOutcome | None:
    child = (
        Run.objects.filter(parent_run=view.run, parent_step=child_marker(step_id, attempt))
        .order_by("-created_at")
        .first()
    )
    if child is None:
        return None
    if child.status == RunStatus.SUCCEEDED:
        return StepOutcome(
            result=Result.SUCCEEDED, output=child.outputs, input={"child_run": str(child.pk)}
        )
    if child.is_final:
        return StepOutcome(
            result=Result.FAILED,
            input={"child_run": str(child.pk)},
            error=f"sub-run {child.pk} {child.status}: {child.error}",
        )
    return StepOutcome(
        result=Result.PAUSED,
        input={"child_run": str(child.pk)},
        pause=Pause(status=RunStatus.BLOCKED, reason=PauseReason.SUB_RUN),
    )


def execute_playbook_step(
    view: RunView, index: int, step: dict[str, Any], attempt: int
) -> StepOutcome:
    existing = child_outcome(view, step["id"], attempt)
    if existing is not None:
        return existing
    spec = step["playbook"]
    inputs = template_render_value(spec.get("inputs", {}), view.template_context())
    child = {"slug": spec["slug"], "inputs": inputs, "marker": child_marker(step["id"], attempt)}
    return StepOutcome(
        result=Result.PAUSED,
        input=child,
        pause=Pause(status=RunStatus.BLOCKED, reason=PauseReason.SUB_RUN, child=child),
    )


def execute_remote_agent_step(
    view: RunView, index: int, step: dict[str, Any], attempt: int
) -> StepOutcome:
    return StepOutcome(
        result=Result.FAILED,
        error="remote_agent steps need the agent gateway, which this studio does not have yet",
    )
